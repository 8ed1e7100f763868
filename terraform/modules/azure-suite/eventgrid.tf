# ---------------------------------------------------------------------------
# Application events: a custom topic per producer, CloudEvents 1.0 in and out.
# The producer's app authenticates with its managed identity and the "EventGrid
# Data Sender" role on its own topic only; access keys are disabled.
# ---------------------------------------------------------------------------
resource "azurerm_eventgrid_topic" "producer" {
  #checkov:skip=CKV_AZURE_193:The publisher is a Flex Consumption app without VNet integration; publishing requires an Entra ID token with EventGrid Data Sender on this topic (local auth is disabled).
  for_each = local.producer_topic_names

  name                = each.value
  resource_group_name = local.resource_group_name
  location            = var.location

  input_schema                  = "CloudEventSchemaV1_0"
  local_auth_enabled            = false
  public_network_access_enabled = true

  # Delivery into the Storage queues and dead-lettering use this identity (no account keys).
  identity {
    type = "SystemAssigned"
  }

  tags = merge(local.tags, { producer = each.key })

  depends_on = [azurerm_resource_group.this]

  lifecycle {
    precondition {
      condition     = length(each.value) <= 50
      error_message = "Event Grid topic name ${each.value} is longer than 50 characters: shorten name_prefix or the function name."
    }
    precondition {
      condition     = length(local.apps_with_two_producers) == 0
      error_message = "Apps ${jsonencode(local.apps_with_two_producers)} run more than one producer: each producer has its own topic and an app has one EVENTSUITE_EVENTGRID_ENDPOINT."
    }
    precondition {
      condition     = length(local.unproduced_subscriptions) == 0
      error_message = "Consumers subscribe to events no function emits (needs.json): ${join(", ", local.unproduced_subscriptions)}."
    }
  }
}

# One subscription per (consumer, producer topic) it needs: filtered on the CloudEvents `type`s
# the consumer wants from that producer, delivered as CloudEvents 1.0 JSON into
# `<consumer>-events`.
resource "azurerm_eventgrid_event_subscription" "app" {
  for_each = local.app_event_subscriptions

  name  = each.value.name
  scope = azurerm_eventgrid_topic.producer[each.value.producer].id

  event_delivery_schema = "CloudEventSchemaV1_0"
  included_event_types  = each.value.event_types

  delivery_identity {
    type = "SystemAssigned"
  }

  storage_queue_endpoint {
    storage_account_id                    = azurerm_storage_account.this.id
    queue_name                            = azurerm_storage_queue.this[local.consumer_queues[each.value.consumer].queue].name
    queue_message_time_to_live_in_seconds = var.queue_message_ttl_seconds
  }

  retry_policy {
    max_delivery_attempts = each.value.max_delivery_attempts
    event_time_to_live    = var.event_time_to_live_minutes
  }

  dead_letter_identity {
    type = "SystemAssigned"
  }

  storage_blob_dead_letter_destination {
    storage_account_id          = azurerm_storage_account.this.id
    storage_blob_container_name = azurerm_storage_container.this["deadletter"].name
  }

  labels = ["eventsuite", "consumer:${each.value.consumer}", "producer:${each.value.producer}"]

  # The topic identity must be allowed to write the queue and the dead-letter container first.
  depends_on = [azurerm_role_assignment.eventgrid]
}

# ---------------------------------------------------------------------------
# Uploads: system topic on the storage account; BlobCreated under the uploads prefix.
# ---------------------------------------------------------------------------
resource "azurerm_eventgrid_system_topic" "uploads" {
  count = length(local.upload_consumers) > 0 ? 1 : 0

  name                = local.names.uploads_topic
  resource_group_name = local.resource_group_name
  location            = var.location
  source_resource_id  = azurerm_storage_account.this.id
  topic_type          = "Microsoft.Storage.StorageAccounts"

  identity {
    type = "SystemAssigned"
  }

  tags = local.tags
}

resource "azurerm_eventgrid_system_topic_event_subscription" "uploads" {
  for_each = local.upload_consumers

  name                = "${var.name_prefix}-${each.key}-uploads"
  system_topic        = azurerm_eventgrid_system_topic.uploads[0].name
  resource_group_name = local.resource_group_name

  event_delivery_schema = "CloudEventSchemaV1_0"
  included_event_types  = ["Microsoft.Storage.BlobCreated"]

  subject_filter {
    # "/blobServices/default/containers/uploads/blobs/<uploads_prefix>"; with an empty prefix
    # this still limits events to the uploads container (thumbnails never match).
    subject_begins_with = local.uploads_subject_prefix
    case_sensitive      = true
  }

  delivery_identity {
    type = "SystemAssigned"
  }

  storage_queue_endpoint {
    storage_account_id                    = azurerm_storage_account.this.id
    queue_name                            = azurerm_storage_queue.this[local.consumer_queues[each.key].queue].name
    queue_message_time_to_live_in_seconds = var.queue_message_ttl_seconds
  }

  retry_policy {
    max_delivery_attempts = each.value.max_delivery_attempts
    event_time_to_live    = var.event_time_to_live_minutes
  }

  dead_letter_identity {
    type = "SystemAssigned"
  }

  storage_blob_dead_letter_destination {
    storage_account_id          = azurerm_storage_account.this.id
    storage_blob_container_name = azurerm_storage_container.this["deadletter"].name
  }

  labels = ["eventsuite", "consumer:${each.key}"]

  depends_on = [azurerm_role_assignment.eventgrid]
}
