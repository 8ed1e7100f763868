# Only the required inputs: log-only mail (no SMTP host), private HTTP, no alerts e-mail.
project_id       = "eventsuite-test-1"
mail_from        = "orders@example.com"
payment_provider = "simulated"
