# Only the required inputs: no SMTP host (log-only mail), new resource group, no alert e-mails,
# the orders API behind its function key (the other auth mode).
mail_from        = "orders@example.com"
orders_api_auth  = { mode = "function_key" }
payment_provider = "simulated"
