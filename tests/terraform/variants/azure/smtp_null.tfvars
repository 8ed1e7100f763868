# smtp = null means "no SMTP relay", like the default.
mail_from        = "orders@example.com"
smtp             = null
orders_api_auth  = { mode = "entra", client_id = "00000000-0000-0000-0000-000000000000" }
payment_provider = "stripe"
