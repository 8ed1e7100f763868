# SMTP mailer with a password, JWT orders API, capacity controls, alarms to e-mail, throwaway env.
mailer    = "smtp"
mail_from = "orders@example.com"
smtp = {
  host = "smtp.example.com"
}
smtp_password = "not-a-real-password"
orders_api_auth = {
  mode         = "JWT"
  jwt_issuer   = "https://issuer.example.com/"
  jwt_audience = ["eventsuite"]
}
reserved_concurrency     = { orders_api = 5 }
consumer_max_concurrency = { thumbnailer = 3 }
alarm_email              = "oncall@example.com"
force_destroy_buckets    = true
deletion_protection      = false
tags                     = { team = "payments" }
payment_provider         = "stripe"
