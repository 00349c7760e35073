# The callers (modules/hub, modules/spoke-region) validate these values: they are their interface.

variable "account_id" {
  description = "Id of the account that owns the bus."
  type        = string
}

variable "allowed_account_ids" {
  description = "Accounts allowed to put events (exactly one of organization_id and allowed_account_ids)."
  type        = list(string)
  nullable    = false
}

variable "description" {
  description = "What the bus is, for error messages (\"hub bus\", \"regional bus\")."
  type        = string
}

variable "join_document_names" {
  description = "Names of the join documents whose Run Command status changes the ssm-command rule matches."
  type        = list(string)
  nullable    = false
}

variable "name_prefix" {
  description = "Prefix of the bus name (<prefix>-bus) and of the rule names (<prefix>-ec2-state, <prefix>-ssm-command, <prefix>-lifecycle); <prefix>- is also the lifecycle hook name prefix."
  type        = string
}

variable "organization_id" {
  description = "AWS Organizations id whose accounts may put events (exactly one of organization_id and allowed_account_ids)."
  type        = string
}

variable "tags" {
  description = "Tags of the bus and the rules."
  type        = map(string)
  nullable    = false
}

variable "target" {
  description = "Where the rules deliver: the target's ARN and the target id."
  type = object({
    arn = string
    id  = string
  })
}
