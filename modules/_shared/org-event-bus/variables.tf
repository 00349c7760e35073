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

variable "name" {
  description = "Name of the bus."
  type        = string
}

variable "organization_id" {
  description = "AWS Organizations id whose accounts may put events (exactly one of organization_id and allowed_account_ids)."
  type        = string
}

variable "tags" {
  description = "Tags of the bus."
  type        = map(string)
  nullable    = false
}
