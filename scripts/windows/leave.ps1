# Placeholder: replaced by the real Windows join script (see docs/contracts.md).
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
throw 'not implemented'
