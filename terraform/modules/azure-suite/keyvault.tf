# Key Vault (RBAC, purge protection) for the webhook HMAC secret(s), the SMTP password and the
# Stripe API key (payment_provider = stripe; read by the apps declaring the payments port).
# Only the apps whose functions declare the webhook_secrets or mailer port reference a secret
# (Key Vault references in app settings, resolved by the platform with the app's identity),
# and each holds "Key Vault Secrets User" on that one secret, not on the vault. A role
# assignment on a secret needs the secret to exist: set secrets out of band (recommended, they
# then never enter Terraform state) before the full apply, see README "Azure".

locals {
  secret_names = {
    webhook = "webhook-secret"
    smtp    = "smtp-password"
    # payment_provider = stripe: the Stripe secret API key, set out of band only
    # (az keyvault secret set --name stripe-api-key), never through Terraform.
    stripe = "stripe-api-key"
  }

  # Versionless references: the app picks up a rotated secret (platform refresh within 24 h, or
  # at once on restart / config change).
  secret_uris = {
    for key, name in local.secret_names : key => "${azurerm_key_vault.this.vault_uri}secrets/${name}"
  }

  # Secrets Terraform writes (write-only values from ephemeral variables: never in plan or
  # state), keyed by their version; the others are set out of band.
  secret_versions = {
    for k, v in { webhook = var.webhook_secret_version, smtp = var.smtp_password_version } : k => v if v != null
  }
  managed_secret_keys = toset(keys(local.secret_versions))
}

resource "azurerm_key_vault" "this" {
  #checkov:skip=CKV_AZURE_109:Default-deny would block Key Vault reference resolution for a Flex app without VNet integration; every read still requires Entra ID RBAC (Key Vault Secrets User). Set key_vault_network_default_action = "Deny" with VNet integration.
  #checkov:skip=CKV_AZURE_189:Public network access is needed for Key Vault references from a Flex app without VNet integration (see CKV_AZURE_109).
  #checkov:skip=CKV2_AZURE_32:No private endpoints in this deployment (see CKV_AZURE_109).
  name                = local.names.key_vault
  resource_group_name = local.resource_group_name
  location            = var.location
  tenant_id           = data.azurerm_client_config.current.tenant_id
  sku_name            = "standard"

  rbac_authorization_enabled    = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = var.key_vault_soft_delete_retention_days
  public_network_access_enabled = true

  network_acls {
    default_action = var.key_vault_network_default_action
    bypass         = "AzureServices"
  }

  tags = local.tags

  depends_on = [azurerm_resource_group.this]
}

# Only created when a value is given; otherwise set out of band:
#   az keyvault secret set --vault-name <key_vault_name> --name webhook-secret --value '<s1>,<s2>'
resource "azurerm_key_vault_secret" "this" {
  #checkov:skip=CKV_AZURE_41:Webhook/SMTP credentials are rotated by the provider/operator, not on a fixed schedule; an expiry date would silently break webhook verification.
  for_each = local.managed_secret_keys

  name             = local.secret_names[each.key]
  value_wo         = each.key == "webhook" ? var.webhook_secret : var.smtp_password
  value_wo_version = local.secret_versions[each.key]
  key_vault_id     = azurerm_key_vault.this.id
  content_type     = "text/plain"
  tags             = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}
