# The two event patterns every part of the solution filters on: the spoke accounts' forwarding
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
}
