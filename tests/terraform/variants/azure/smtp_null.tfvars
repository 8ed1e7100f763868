# smtp = null means "no SMTP relay", like the default.
mail_from = "orders@example.com"
smtp      = null
