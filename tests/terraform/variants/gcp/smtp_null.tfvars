# smtp = null means "no SMTP relay", like the default.
project_id       = "eventsuite-test-1"
mail_from        = "orders@example.com"
smtp             = null
payment_provider = "stripe"
