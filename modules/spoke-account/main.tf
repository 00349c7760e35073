# Names shared with modules/hub and modules/spoke-region: the hub account's bus in this Region
# (the hub bus in the directory Region, the regional bus elsewhere) has the same name.

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  partition             = data.aws_partition.current.partition
  region                = data.aws_region.current.name
  hub_event_bus_arn     = "arn:${local.partition}:events:${local.region}:${var.hub_account_id}:event-bus/${var.name_prefix}-bus"
  hub_lambda_role_arn   = coalesce(var.hub_lambda_role_arn, "arn:${local.partition}:iam::${var.hub_account_id}:role/${var.name_prefix}-lambda")
  spoke_role_name       = "${var.name_prefix}-spoke"
  linux_join_document   = "${var.name_prefix}-linux-join"
  windows_join_document = "${var.name_prefix}-windows-join"
  lifecycle_hook_prefix = "${var.name_prefix}-"
}
