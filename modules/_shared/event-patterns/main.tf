# The event patterns every part of the solution filters on: the spoke accounts' forwarding
# rules, the regional buses' rules and the hub bus's rules. They must stay identical, or events
# are lost between a spoke and the hub, so they are defined here once. No resources.

locals {
  ec2_state_pattern = {
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Instance State-change Notification"]
    detail        = { state = ["running", "terminated"] }
  }
  ssm_command_pattern = {
    source        = ["aws.ssm"]
    "detail-type" = ["EC2 Command Invocation Status-change Notification"]
    detail        = { "document-name" = var.join_document_names }
  }
  # Auto Scaling lifecycle actions of the hooks named by the project's convention: the hook name
  # starts with the prefix (e.g. ad-join-launch). Event shape:
  # https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-event-reference.html;
  # prefix matching: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
  lifecycle_pattern = {
    source        = ["aws.autoscaling"]
    "detail-type" = ["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"]
    detail        = { LifecycleHookName = [{ prefix = var.lifecycle_hook_prefix }] }
  }
}
