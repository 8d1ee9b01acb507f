"""ailib: one client API over many LLM providers, with reliability around every call."""

from .call.stream import ChatStream
from .client import AiClient, AiClientBuilder
from .errors import (
    AiLibError,
    AllProvidersFailedError,
    AuthenticationError,
    CircuitOpenError,
    ConfigurationError,
    ContentFilteredError,
    ContextLengthExceededError,
    DeadlineExceededError,
    InvalidRequestError,
    LocalRateLimitError,
    ModelNotFoundError,
    NetworkError,
    ProtocolError,
    ProviderError,
    QuotaExceededError,
    RateLimitExceeded,
    StreamInterruptedError,
    TimeoutError,
)
from .options import ConnectionOptions
from .providers import CustomProviderBuilder, Provider
from .reliability.circuit import CircuitBreakerPolicy, CircuitState
from .reliability.hedge import HedgePolicy
from .reliability.ratelimit import RateLimitPolicy
from .reliability.retry import RetryPolicy
from .routing import FallbackChain, HealthCheck, LoadBalancingStrategy, ModelArray, ModelEndpoint
from .state import MemoryStateStore
from .types import (
    Attempt,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    Content,
    Message,
    Role,
    StreamChunk,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "RedisStateStore":  # imported on first use: `import ailib` never imports redis
        from .state.redis import RedisStateStore

        return RedisStateStore
    raise AttributeError(f"module 'ailib' has no attribute {name!r}")

__all__ = [
    "AiClient",
    "AiClientBuilder",
    "ChatStream",
    "ConnectionOptions",
    "CustomProviderBuilder",
    "Provider",
    "RetryPolicy",
    "CircuitBreakerPolicy",
    "CircuitState",
    "RateLimitPolicy",
    "HedgePolicy",
    "MemoryStateStore",
    "RedisStateStore",
    "FallbackChain",
    "HealthCheck",
    "LoadBalancingStrategy",
    "ModelArray",
    "ModelEndpoint",
    "Role",
    "Content",
    "Message",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "Choice",
    "Usage",
    "StreamChunk",
    "Attempt",
    "AiLibError",
    "ConfigurationError",
    "InvalidRequestError",
    "ContextLengthExceededError",
    "ContentFilteredError",
    "AuthenticationError",
    "ModelNotFoundError",
    "RateLimitExceeded",
    "QuotaExceededError",
    "TimeoutError",
    "DeadlineExceededError",
    "NetworkError",
    "ProviderError",
    "ProtocolError",
    "StreamInterruptedError",
    "CircuitOpenError",
    "LocalRateLimitError",
    "AllProvidersFailedError",
]
