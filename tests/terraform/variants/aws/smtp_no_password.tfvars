# SMTP relay without a password (smtp_password null), public orders API, nulls passed explicitly.
mailer = "smtp"
smtp = {
  host     = "relay.internal"
  port     = 25
  username = ""
  starttls = false
}
smtp_password    = null
alarm_email      = null
orders_api_auth  = { mode = "NONE" }
payment_provider = "stripe"
