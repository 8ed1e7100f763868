# Logs, Application Insights and alerts.

resource "azurerm_log_analytics_workspace" "this" {
  name                         = local.names.log_analytics
  resource_group_name          = local.resource_group_name
  location                     = var.location
  sku                          = "PerGB2018"
  retention_in_days            = var.log_retention_days
  local_authentication_enabled = false
  tags                         = local.tags

  depends_on = [azurerm_resource_group.this]
}

resource "azurerm_application_insights" "this" {
  name                          = local.names.app_insights
  resource_group_name           = local.resource_group_name
  location                      = var.location
  workspace_id                  = azurerm_log_analytics_workspace.this.id
  application_type              = "web"
  local_authentication_disabled = true
  tags                          = local.tags
}

resource "azurerm_monitor_action_group" "this" {
  count = length(var.alert_email_addresses) > 0 ? 1 : 0

  name                = local.names.action_group
  resource_group_name = local.resource_group_name
  location            = "global"
  short_name          = substr("${var.name_prefix}alerts", 0, 12)

  dynamic "email_receiver" {
    for_each = toset(var.alert_email_addresses)

    content {
      name                    = "email-${index(var.alert_email_addresses, email_receiver.value)}"
      email_address           = email_receiver.value
      use_common_alert_schema = true
    }
  }

  tags = local.tags

  depends_on = [azurerm_resource_group.this]
}

locals {
  action_group_ids = azurerm_monitor_action_group.this[*].id

  # Every Event Grid subscription, keyed by consumer and source topic.
  eventgrid_subscriptions = merge(
    {
      for k, sub in local.app_event_subscriptions : "${sub.consumer}-from-${replace(sub.producer, "_", "-")}" => {
        consumer  = sub.consumer
        scope     = azurerm_eventgrid_topic.producer[sub.producer].id
        namespace = "Microsoft.EventGrid/topics"
        name      = azurerm_eventgrid_event_subscription.app[k].name
      }
    },
    {
      for consumer in keys(local.upload_consumers) : "${consumer}-uploads" => {
        consumer  = consumer
        scope     = azurerm_eventgrid_system_topic.uploads[0].id
        namespace = "Microsoft.EventGrid/systemTopics"
        name      = azurerm_eventgrid_system_topic_event_subscription.uploads[consumer].name
      }
    },
  )

  eventgrid_topics = merge(
    { for p, t in azurerm_eventgrid_topic.producer : "events-${replace(p, "_", "-")}" => { scope = t.id, namespace = "Microsoft.EventGrid/topics" } },
    {
      for k, t in azurerm_eventgrid_system_topic.uploads : "uploads" => {
        scope     = t.id
        namespace = "Microsoft.EventGrid/systemTopics"
      }
    },
  )
}

# Event Grid could not write an event into a consumer's queue within its retry policy: the
# event is in the deadletters container under <SUBSCRIPTION-NAME>/yyyy/m/d/h/.
resource "azurerm_monitor_metric_alert" "deadlettered" {
  for_each = local.eventgrid_subscriptions

  name                = "${var.name_prefix}-${each.key}-deadlettered"
  resource_group_name = local.resource_group_name
  scopes              = [each.value.scope]
  description         = "Event Grid dead-lettered events of subscription ${each.value.name} (consumer ${each.value.consumer}) into the ${local.containers.deadletter} container."
  severity            = 1
  frequency           = "PT5M"
  window_size         = "PT15M"
  auto_mitigate       = true

  criteria {
    metric_namespace = each.value.namespace
    metric_name      = "DeadLetteredCount"
    aggregation      = "Total"
    operator         = "GreaterThan"
    threshold        = 0

    dimension {
      name     = "EventSubscriptionName"
      operator = "Include"
      # Event Grid reports subscription names upper-cased.
      values = [upper(each.value.name)]
    }
  }

  dynamic "action" {
    for_each = local.action_group_ids

    content {
      action_group_id = action.value
    }
  }

  tags = local.tags
}

# Events dropped without dead-lettering (e.g. the dead-letter write itself failed).
resource "azurerm_monitor_metric_alert" "dropped" {
  for_each = local.eventgrid_topics

  name                = "${var.name_prefix}-${each.key}-dropped-events"
  resource_group_name = local.resource_group_name
  scopes              = [each.value.scope]
  description         = "Event Grid dropped events on the ${each.key} topic (lost: neither delivered nor dead-lettered)."
  severity            = 0
  frequency           = "PT5M"
  window_size         = "PT15M"

  criteria {
    metric_namespace = each.value.namespace
    metric_name      = "DroppedEventCount"
    aggregation      = "Total"
    operator         = "GreaterThan"
    threshold        = 0
  }

  dynamic "action" {
    for_each = local.action_group_ids

    content {
      action_group_id = action.value
    }
  }

  tags = local.tags
}

# Storage queue metrics are account-level only (no per-queue dimension), and QueueMessageCount
# is a capacity metric emitted hourly: this is the coarse "total backlog" backstop. The
# per-consumer alerts below come from queue logs.
resource "azurerm_monitor_metric_alert" "queue_total_backlog" {
  name                = "${var.name_prefix}-queues-total-backlog"
  resource_group_name = local.resource_group_name
  scopes              = ["${azurerm_storage_account.this.id}/queueServices/default"]
  description         = "More than ${var.total_queue_messages_threshold} messages across all queues of ${azurerm_storage_account.this.name} (consumer and poison queues)."
  severity            = 2
  frequency           = "PT1H"
  window_size         = "PT6H"

  criteria {
    metric_namespace = "Microsoft.Storage/storageAccounts/queueServices"
    metric_name      = "QueueMessageCount"
    aggregation      = "Average"
    operator         = "GreaterThan"
    threshold        = var.total_queue_messages_threshold
  }

  dynamic "action" {
    for_each = local.action_group_ids

    content {
      action_group_id = action.value
    }
  }

  tags = local.tags
}

# Per consumer: a message reached the poison queue (the runtime after maxDequeueCount failed
# attempts, or the dispatcher for a permanent error). Source: StorageQueueLogs PutMessage.
resource "azurerm_monitor_scheduled_query_rules_alert_v2" "poison" {
  for_each = local.consumer_queues

  name                  = "${var.name_prefix}-${each.key}-poison"
  resource_group_name   = local.resource_group_name
  location              = var.location
  scopes                = [azurerm_log_analytics_workspace.this.id]
  description           = "Messages moved to ${each.value.poison} (consumer ${each.key})."
  severity              = 1
  evaluation_frequency  = "PT5M"
  window_duration       = "PT15M"
  skip_query_validation = true # StorageQueueLogs exists only after the first log record.

  criteria {
    query                   = <<-KQL
      StorageQueueLogs
      | where AccountName == "${azurerm_storage_account.this.name}"
      | where OperationName == "PutMessage"
      | where Uri contains "/${each.value.poison}/messages"
    KQL
    time_aggregation_method = "Count"
    operator                = "GreaterThan"
    threshold               = 0

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  dynamic "action" {
    for_each = length(local.action_group_ids) > 0 ? [local.action_group_ids] : []

    content {
      action_groups = action.value
    }
  }

  tags = local.tags

  depends_on = [azurerm_monitor_diagnostic_setting.queues]
}

# Per consumer: the queue grows (enqueued - deleted over the window above the threshold). A
# proxy for backlog, since Azure Monitor exposes no per-queue depth or age.
resource "azurerm_monitor_scheduled_query_rules_alert_v2" "backlog" {
  for_each = local.consumer_queues

  name                  = "${var.name_prefix}-${each.key}-backlog"
  resource_group_name   = local.resource_group_name
  location              = var.location
  scopes                = [azurerm_log_analytics_workspace.this.id]
  description           = "${each.value.queue} received more than ${var.queue_backlog_threshold} messages more than it deleted in ${var.queue_backlog_window} (consumer ${each.key} falling behind or failing)."
  severity              = 2
  evaluation_frequency  = "PT5M"
  window_duration       = var.queue_backlog_window
  skip_query_validation = true

  criteria {
    query                   = <<-KQL
      StorageQueueLogs
      | where AccountName == "${azurerm_storage_account.this.name}"
      | where Uri contains "/${each.value.queue}/messages"
      | summarize Enqueued = countif(OperationName == "PutMessage"), Deleted = countif(OperationName == "DeleteMessage")
      | extend Growth = Enqueued - Deleted
    KQL
    time_aggregation_method = "Maximum"
    metric_measure_column   = "Growth"
    operator                = "GreaterThan"
    threshold               = var.queue_backlog_threshold

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  dynamic "action" {
    for_each = length(local.action_group_ids) > 0 ? [local.action_group_ids] : []

    content {
      action_groups = action.value
    }
  }

  tags = local.tags

  depends_on = [azurerm_monitor_diagnostic_setting.queues]
}

# Per catalog schedule: a run of its timer function failed (an exception or the function
# timeout). The host records each invocation as a request named after the function, and
# host.json keeps requests out of sampling, so every failed run is counted. The timer does not
# retry a failed run: the next tick runs the job again, so a run failing at every tick keeps
# this alert firing.
resource "azurerm_monitor_scheduled_query_rules_alert_v2" "schedule_failed" {
  for_each = var.schedules

  name                 = "${var.name_prefix}-${each.key}-failed"
  resource_group_name  = local.resource_group_name
  location             = var.location
  scopes               = [azurerm_application_insights.this.id]
  description          = "A run of the timer function ${each.key} (every ${each.value.every_minutes} min) failed."
  severity             = 2
  evaluation_frequency = "PT5M"
  window_duration      = "PT15M"

  criteria {
    query                   = <<-KQL
      requests
      | where name == "${each.key}" and success == false
    KQL
    time_aggregation_method = "Count"
    operator                = "GreaterThan"
    threshold               = 0

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  dynamic "action" {
    for_each = length(local.action_group_ids) > 0 ? [local.action_group_ids] : []

    content {
      action_groups = action.value
    }
  }

  tags = local.tags
}
