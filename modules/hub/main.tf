# Shared names and ARNs. Everything is derived from name_prefix, account_id and the provider's
# Region and partition, so the plan needs no call to AWS and the spoke modules can compute the
# same names on their side.

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  dns_sfx   = data.aws_partition.current.dns_suffix

  directory_region = coalesce(var.directory.region, local.region)
  # CreateComputer may target these: the listed directories and the default one
  directory_ids = distinct(compact(concat(var.directory.directory_ids, [var.directory.default_directory_id])))

  queue_name             = "${var.name_prefix}-queue"
  dlq_name               = "${var.name_prefix}-dlq"
  function_name          = var.name_prefix
  lambda_role_name       = "${var.name_prefix}-lambda"
  spoke_role_name        = "${var.name_prefix}-spoke"
  linux_join_document    = "${var.name_prefix}-linux-join"
  windows_join_document  = "${var.name_prefix}-windows-join"
  leave_document         = "${var.name_prefix}-leave"
  spoke_topic_name       = "${var.name_prefix}-events"
  log_group_name         = "/aws/lambda/${local.function_name}"
  create_config_table    = var.existing_config_table_name == null
  config_table_name      = coalesce(var.existing_config_table_name, "${var.name_prefix}-config")
  state_table_name       = "${var.name_prefix}-state"
  create_leave_document  = var.directory.leave_adapter == "ad_tools_host"
  join_password_is_param = !startswith(var.join_password_parameter, "arn:")

  # ARNs built from names, so every policy document is known at plan time (reviewable in the
  # plan, checked by the plan tests) and the queue, key and spoke topics need no cycle.
  lambda_role_arn = "arn:${local.partition}:iam::${var.account_id}:role/${local.lambda_role_name}"
  queue_arn       = "arn:${local.partition}:sqs:${local.region}:${var.account_id}:${local.queue_name}"
  dlq_arn         = "arn:${local.partition}:sqs:${local.region}:${var.account_id}:${local.dlq_name}"
  # The URLs AWS gives these queues, so the Lambda environment is known (and reviewable) at plan.
  queue_url        = "https://sqs.${local.region}.${local.dns_sfx}/${var.account_id}/${local.queue_name}"
  dlq_url          = "https://sqs.${local.region}.${local.dns_sfx}/${var.account_id}/${local.dlq_name}"
  state_table_arn  = "arn:${local.partition}:dynamodb:${local.region}:${var.account_id}:table/${local.state_table_name}"
  alarm_topic_arn  = "arn:${local.partition}:sns:${local.region}:${var.account_id}:${var.name_prefix}-alarms"
  spoke_topic_arns = sort([for r in var.spoke_regions : "arn:${local.partition}:sns:${r}:${var.account_id}:${local.spoke_topic_name}"])
  config_table_arn = "arn:${local.partition}:dynamodb:${local.region}:${var.account_id}:table/${local.config_table_name}"
  log_group_arn    = "arn:${local.partition}:logs:${local.region}:${var.account_id}:log-group:${local.log_group_name}"
  join_password_arn = (
    local.join_password_is_param
    ? "arn:${local.partition}:ssm:${local.region}:${var.account_id}:parameter/${trimprefix(var.join_password_parameter, "/")}"
    : var.join_password_parameter
  )

  alarm_actions = concat(var.alarms.create_sns_topic ? [local.alarm_topic_arn] : [], var.alarms.actions)

  # The Lambda reads the join password only for the ldap adapter (join or leave); a CA
  # certificate parameter means some account uses ldap through its config item.
  reads_join_password = (
    var.directory.adapter == "ldap" || var.directory.leave_adapter == "ldap"
    || length(var.directory.ldap_ca_cert_parameters) > 0
  )

  # SNS delivers across Regions with its global principal, except from or to an opt-in Region,
  # where the policy must name sns.<opt-in Region>.amazonaws.com (the opt-in Regions of
  # https://docs.aws.amazon.com/sns/latest/dg/sns-cross-region-delivery.html).
  sns_opt_in_regions = [
    "af-south-1", "ap-east-1", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-northeast-3",
    "eu-south-1", "eu-south-2", "eu-central-2", "il-central-1", "me-south-1", "me-central-1",
  ]
  spoke_topic_principals = sort(distinct(concat(
    ["sns.${local.dns_sfx}"],
    [for r in var.spoke_regions : "sns.${r}.${local.dns_sfx}" if contains(local.sns_opt_in_regions, r)],
    contains(local.sns_opt_in_regions, local.region) ? ["sns.${local.region}.${local.dns_sfx}"] : [],
  )))

  # Who may send to the domain-join queue: the hub bus rules and the spoke-region topics.
  queue_sources = concat(module.event_bus.rule_arns, local.spoke_topic_arns)
}
