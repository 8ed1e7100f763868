data "azurerm_client_config" "current" {}

locals {
  # Stable, deterministic suffix for globally unique names (no random provider needed).
  suffix = coalesce(
    var.name_suffix,
    substr(sha256("${data.azurerm_client_config.current.subscription_id}/${var.name_prefix}/${var.location}"), 0, 6),
  )

  resource_group_name = coalesce(var.resource_group_name, "${var.name_prefix}-rg")
  resource_group_id   = var.create_resource_group ? azurerm_resource_group.this[0].id : data.azurerm_resource_group.existing[0].id

  names = {
    storage_account  = "${var.name_prefix}st${local.suffix}"   # <= 20 chars, [a-z0-9]
    key_vault        = "${var.name_prefix}-kv-${local.suffix}" # <= 22 chars
    service_plan     = "${var.name_prefix}-plan"
    uploads_topic    = "${var.name_prefix}-uploads"
    log_analytics    = "${var.name_prefix}-law"
    app_insights     = "${var.name_prefix}-appi"
    action_group     = "${var.name_prefix}-alerts"
    tables_template  = "${var.name_prefix}-tables"
    queue_diagnostic = "${var.name_prefix}-queue-logs"
    blob_diagnostic  = "${var.name_prefix}-blob-logs"
  }

  tags = merge({ app = "eventsuite", "managed-by" = "terraform" }, var.tags)

  # Containers. thumbnails is separate from uploads so renditions never trigger the pipeline.
  # Every app has its own package container (`package-<app>`).
  containers = merge({
    uploads    = "uploads"
    thumbnails = "thumbnails"
    claims     = "claims"
    deadletter = "deadletters"
    # Pre-created so the Functions host can get container-scoped roles instead of account-wide ones.
    host_hosts   = "azure-webjobs-hosts"
    host_secrets = "azure-webjobs-secrets"
    },
    { for app in keys(local.apps) : "package-${app}" => "app-package-${replace(app, "_", "-")}" },
  )

  tables = {
    index       = "metadataindex"
    idempotency = "idempotency"
    orders      = "orders"
  }

  # Per consumer: its queue, the Functions runtime's poison queue, and which topic feeds it.
  consumer_queues = {
    for name, c in var.consumers : name => {
      queue  = "${name}-events"
      poison = "${name}-events-poison"
    }
  }

  all_queues = merge(
    { for name, q in local.consumer_queues : q.queue => name },
    { for name, q in local.consumer_queues : q.poison => name },
  )

  producer_topic_names = {
    for p in keys(local.producer_event_types) : p => "${var.name_prefix}-ev-${replace(p, "_", "-")}-${local.suffix}"
  }

  # Application events (everything except the storage-sourced upload event) -> the producers'
  # custom topics: one subscription per (consumer, producer) for the types both share.
  app_event_subscriptions = merge([
    for name, c in local.app_event_consumers : {
      for p, ptypes in local.producer_event_types : "${name}/${p}" => {
        consumer              = name
        producer              = p
        name                  = "${var.name_prefix}-${replace(name, "_", "-")}-from-${replace(p, "_", "-")}"
        event_types           = [for t in c.event_types : t if contains(ptypes, t)]
        max_delivery_attempts = c.max_delivery_attempts
      } if length(setintersection(c.event_types, ptypes)) > 0
    }
  ]...)

  unproduced_subscriptions = flatten([
    for name, c in local.app_event_consumers : [
      for t in c.event_types : "${name} <- ${t}" if !contains(flatten(values(local.producer_event_types)), t)
    ]
  ])

  # Application events (everything except the storage-sourced upload event) -> custom topics.
  app_event_consumers = {
    for name, c in var.consumers : name => {
      event_types = distinct([
        for e in c.subscribes : var.events[e].type if e != var.upload_event_name && contains(keys(var.events), e)
      ])
      max_delivery_attempts = c.max_delivery_attempts
    }
    if length([for e in c.subscribes : e if e != var.upload_event_name]) > 0
  }

  # Upload event -> system topic on the storage account (Microsoft.Storage.BlobCreated).
  upload_consumers = {
    for name, c in var.consumers : name => {
      max_delivery_attempts = c.max_delivery_attempts
    }
    if contains(c.subscribes, var.upload_event_name)
  }

  uploads_subject_prefix = "/blobServices/default/containers/${local.containers.uploads}/blobs/${var.uploads_prefix}"

  unknown_subscriptions = flatten([
    for name, c in var.consumers : [
      for e in c.subscribes : "${name}:${e}" if !contains(keys(var.events), e)
    ]
  ])

  # Host-wide queue settings the code must put in host.json (one value per app).
  host_max_dequeue_count = max([for c in values(var.consumers) : c.max_delivery_attempts]...)
}

resource "azurerm_resource_group" "this" {
  count = var.create_resource_group ? 1 : 0

  name     = local.resource_group_name
  location = var.location
  tags     = local.tags
}

data "azurerm_resource_group" "existing" {
  count = var.create_resource_group ? 0 : 1

  name = local.resource_group_name
}
