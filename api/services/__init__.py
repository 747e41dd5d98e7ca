"""Business logic behind the routes; raises `api.errors` domain errors, never HTTP ones."""
