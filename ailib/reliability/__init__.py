"""Reliability primitives: clock, retry, budgets, circuit breaker, rate limiter, hedging."""
