"""HTTP routers only: validate, call `.kiq()`, shape responses."""
