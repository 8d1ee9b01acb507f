"""Reliability primitives: retry, budgets, circuit breaker, rate limiter, hedging."""
