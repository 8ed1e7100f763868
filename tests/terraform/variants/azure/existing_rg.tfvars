# An existing resource group, secrets set through Terraform, explicit subscription and suffix.
subscription_id           = "00000000-0000-0000-0000-000000000000"
name_prefix               = "evtest"
name_suffix               = "x1"
create_resource_group     = false
resource_group_name       = "existing-rg"
mail_from                 = "orders@example.com"
smtp                      = { host = "smtp.example.com" }
smtp_password             = "not-a-real-password"
webhook_secret            = "whsec_test"
shared_access_key_enabled = true
storage_replication_type  = "LRS"
alert_email_addresses     = []
