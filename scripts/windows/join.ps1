# Join this Windows instance to Active Directory with a one-time password.
#
# Runs as the content of the <prefix>windows-join SSM document (aws:runPowerShellScript).
# Its parameters arrive as environment variables (interpolationType ENV_VAR, see
# docs/contracts.md): SSM_computerName, SSM_oneTimePassword, SSM_domainName, SSM_computerOU,
# SSM_adGroupName, SSM_adSudoGroupName, SSM_dnsIP1, SSM_dnsIP2, SSM_domainController (the domain
# controller that holds the pre-created account, or empty), SSM_bootWaitSeconds. The script
# never uses document interpolation.
#
# The hub pre-created the computer account with a random one-time password. The instance joins
# that account with an unsecured join (no domain user credential on the instance at all):
# Add-Computer -Options UnsecuredJoin,PasswordPass with a credential whose user name is empty
# and whose password is the one-time password. The machine rotates the password after the join.
#
# Flow (safe to run twice; SSM Agent runs it again after the reboot it asks for):
#   0. wait, at most bootWaitSeconds, for EC2Launch v2 to finish the instance's boot work;
#   1. not a domain member: set DNS servers (optional), check that a domain controller is
#      found, rename + join in one step, exit 3010 so SSM Agent reboots the instance and runs
#      this script again;
#   2. member of the domain under this name: add adGroupName to the local Remote Desktop Users
#      group and adSudoGroupName to the local Administrators group (each by its well-known SID)
#      and exit 0 without reboot;
#   3. joined with the new name but not yet rebooted: exit 3010 again.
#
# Exit codes (same meaning as scripts/linux/join.sh where they apply):
#   0 joined (or already joined), 1 unexpected error, 2 bad parameters, 4 DNS / domain
#   controller unreachable, 5 join failed (wrong or expired one-time password, account missing,
#   member of another domain or under another name), 6 access restriction failed,
#   3010 joined: SSM Agent reboots the instance and runs the script again.
# Messages go to standard error; the one-time password is never printed.

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$ExitBadParameters = 2
$ExitUnreachable = 4
$ExitJoinFailed = 5
$ExitAccessRestriction = 6
$ExitRebootRequested = 3010

# Remote Desktop Users and Administrators: well-known SIDs, the same on every locale
# (https://learn.microsoft.com/en-us/windows/win32/secauthz/well-known-sids).
$RemoteDesktopUsersSid = 'S-1-5-32-555'
$AdministratorsSid = 'S-1-5-32-544'
# EC2Launch v2's command line; `status --block` returns when the agent has finished its run:
# exit 0 ran and succeeded, 1 ran and failed, 2 still running, 3-5 unknown state
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2launch-v2-settings.html#ec2launch-v2-settings-status).
$Ec2LaunchRelativePath = 'Amazon\EC2Launch\EC2Launch.exe'
$DefaultBootWaitSeconds = 600

$NamePattern = '^(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]{0,13}[A-Za-z0-9])?$'
$DomainPattern = '^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$'
$OuPattern = '^(?:(?:OU|CN)=(?:[^,\\]|\\.)+,)+(?:DC=(?:[^,\\]|\\.)+,)*DC=(?:[^,\\]|\\.)+$'
$GroupPattern = '^[A-Za-z0-9._-](?:[A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-])?$'
$DomainControllerPattern = '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,126}$'
# What Windows says when KB5020276's hardening refuses to reuse a pre-created account.
$AccountReuseBlockedPattern = '0x0*aac\b|\b2732\b|NERR_AccountReuseBlockedByPolicy|Re-using the account was blocked by security policy'
$BootWaitPattern = '^[0-9]{1,4}$'
$Ipv4Pattern = '^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$'

function Write-Log {
    param([Parameter(Mandatory = $true)][string]$Message)
    [Console]::Error.WriteLine("ad-join: $Message")
}

function Exit-WithCode {
    param(
        [Parameter(Mandatory = $true)][int]$Code,
        [Parameter(Mandatory = $true)][string]$Message
    )
    Write-Log -Message $Message
    exit $Code
}

function ConvertTo-TrimmedValue {
    # An unset parameter arrives as an absent or empty variable.
    param([AllowNull()][string]$Value)
    if ($null -eq $Value) {
        return ''
    }
    return $Value.Trim()
}

function Test-Parameters {
    param([Parameter(Mandatory = $true)][hashtable]$Parameters)
    $problems = New-Object -TypeName System.Collections.Generic.List[string]
    if ($Parameters.ComputerName -notmatch $NamePattern) {
        $problems.Add('computerName must be 1-15 letters, digits or hyphens, with a letter')
    }
    if ($Parameters.DomainName -notmatch $DomainPattern) {
        $problems.Add('domainName must be a DNS domain name such as corp.example.com')
    }
    if ($Parameters.ComputerOU -ne '' -and $Parameters.ComputerOU -notmatch $OuPattern) {
        $problems.Add('computerOU must be empty or a distinguished name such as OU=Servers,DC=corp,DC=example,DC=com')
    }
    if ($Parameters.AdGroupName -ne '' -and $Parameters.AdGroupName -cnotmatch $GroupPattern) {
        $problems.Add('adGroupName must be empty or 1-64 characters from A-Z a-z 0-9 space . _ - without leading or trailing space')
    }
    if ($Parameters.DomainController -ne '' -and $Parameters.DomainController -notmatch $DomainControllerPattern) {
        $problems.Add('domainController must be empty or the DNS name or IPv4 address of a domain controller')
    }
    if ($Parameters.AdSudoGroupName -ne '' -and $Parameters.AdSudoGroupName -cnotmatch $GroupPattern) {
        $problems.Add('adSudoGroupName must be empty or 1-64 characters from A-Z a-z 0-9 space . _ - without leading or trailing space')
    }
    if ($Parameters.BootWaitSeconds -ne '' -and $Parameters.BootWaitSeconds -notmatch $BootWaitPattern) {
        $problems.Add('bootWaitSeconds must be empty (600) or 0-9999')
    }
    foreach ($dnsServer in @($Parameters.DnsIP1, $Parameters.DnsIP2)) {
        if ($dnsServer -ne '' -and $dnsServer -notmatch $Ipv4Pattern) {
            $problems.Add("dnsIP1/dnsIP2 must be empty or IPv4 addresses (got '$dnsServer')")
        }
    }
    return , $problems
}

function Wait-BootWork {
    param([Parameter(Mandatory = $true)][int]$TimeoutSeconds)
    # The instance's own boot work (EC2Launch v2 tasks, user data) first, bounded; an instance
    # without EC2Launch v2 (EC2Launch v1, EC2Config) has nothing to wait for here.
    if ($TimeoutSeconds -eq 0) {
        return
    }
    $ec2launch = Join-Path -Path $env:ProgramFiles -ChildPath $Ec2LaunchRelativePath
    if (-not (Test-Path -LiteralPath $ec2launch -PathType Leaf)) {
        Write-Log -Message 'no EC2Launch v2: not waiting for boot work'
        return
    }
    Write-Log -Message "waiting up to $TimeoutSeconds s for EC2Launch v2 to finish"
    $process = Start-Process -FilePath $ec2launch -ArgumentList 'status', '--block' -NoNewWindow -PassThru
    $null = $process.Handle # keeps the exit code readable after the process ends
    if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
        Stop-Process -InputObject $process -Force -ErrorAction SilentlyContinue
        Write-Log -Message "EC2Launch v2 still running after $TimeoutSeconds s; joining anyway"
        return
    }
    switch ($process.ExitCode) {
        0 { Write-Log -Message 'EC2Launch v2 is done' }
        1 { Write-Log -Message 'EC2Launch v2 finished with a failed task; joining anyway' }
        default { Write-Log -Message "EC2Launch v2 status exited $($process.ExitCode) (state unknown); joining anyway" }
    }
}

function Get-DomainState {
    # What the machine is now: domain membership, running name, name after the next reboot.
    $system = Get-CimInstance -ClassName Win32_ComputerSystem
    $pending = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName'
    $domain = ''
    if ($system.PartOfDomain) {
        $domain = [string]$system.Domain
    }
    return [pscustomobject]@{
        Domain      = $domain
        ActiveName  = [string]$env:COMPUTERNAME
        PendingName = [string]$pending.ComputerName
    }
}

function Set-DnsServers {
    param([Parameter(Mandatory = $true)][string[]]$Servers)
    # The primary interface is the one that carries the default route with the lowest metric.
    $route = Get-NetRoute -AddressFamily IPv4 -DestinationPrefix '0.0.0.0/0' |
        Sort-Object -Property 'RouteMetric', 'InterfaceMetric' |
        Select-Object -First 1
    if ($null -eq $route) {
        Exit-WithCode -Code $ExitUnreachable -Message 'no IPv4 default route: cannot choose the interface for the DNS servers'
    }
    Set-DnsClientServerAddress -InterfaceIndex $route.InterfaceIndex -ServerAddresses $Servers
    Clear-DnsClientCache
    Write-Log -Message "DNS servers of interface $($route.InterfaceIndex) set to $($Servers -join ', ')"
}

function Test-DomainController {
    param([Parameter(Mandatory = $true)][string]$DomainName)
    # The domain controller locator record; DNS may take a moment after a server change.
    $record = "_ldap._tcp.dc._msdcs.$DomainName"
    for ($attempt = 1; $attempt -le 6; $attempt++) {
        try {
            $answers = @(Resolve-DnsName -Name $record -Type SRV -DnsOnly -ErrorAction Stop |
                    Where-Object { $_.Type -eq 'SRV' })
            if ($answers.Count -gt 0) {
                return
            }
        }
        catch {
            Write-Log -Message "attempt ${attempt}: $record not resolved: $($_.Exception.Message)"
        }
        Start-Sleep -Seconds 10
    }
    Exit-WithCode -Code $ExitUnreachable -Message "no domain controller found for $DomainName (SRV $record)"
}

function Join-Domain {
    param(
        [Parameter(Mandatory = $true)][string]$DomainName,
        [Parameter(Mandatory = $true)][string]$ComputerName,
        [Parameter(Mandatory = $true)][AllowEmptyString()][string]$ComputerOU,
        [Parameter(Mandatory = $true)][AllowEmptyString()][string]$DomainController,
        [Parameter(Mandatory = $true)][System.Management.Automation.PSCredential]$Credential
    )
    # UnsecuredJoin + PasswordPass: join the pre-created account with its one-time password.
    # Rename and join in one step (JoinWithNewName) so that one reboot completes both.
    $options = @('UnsecuredJoin', 'PasswordPass')
    $joinArguments = @{
        DomainName  = $DomainName
        Credential  = $Credential
        Force       = $true
        ErrorAction = 'Stop'
    }
    if ($env:COMPUTERNAME -ne $ComputerName) {
        $joinArguments['NewName'] = $ComputerName
        $options += 'JoinWithNewName'
    }
    $joinArguments['Options'] = $options
    if ($ComputerOU -ne '') {
        $joinArguments['OUPath'] = $ComputerOU
    }
    # The controller that holds the pre-created account: the others may not have it yet.
    # Add-Computer -Server takes it "in DomainName\ComputerName format" (Add-Computer, -Server:
    # https://learn.microsoft.com/powershell/module/microsoft.powershell.management/add-computer).
    if ($DomainController -ne '') {
        $joinArguments['Server'] = "$DomainName\$DomainController"
    }
    # The account may not have reached every domain controller yet: retry a few times.
    $lastError = ''
    for ($attempt = 1; $attempt -le 6; $attempt++) {
        try {
            Add-Computer @joinArguments
            Write-Log -Message "joined $DomainName as $ComputerName"
            return
        }
        catch {
            $lastError = $_.Exception.Message
            if (Test-AccountReuseBlocked -Message $lastError) {
                Exit-WithCode -Code $ExitJoinFailed -Message ("the domain refused to reuse the pre-created account $ComputerName " +
                    '(KB5020276 account-reuse hardening, error 0xAAC NERR_AccountReuseBlockedByPolicy): on the domain controllers, ' +
                    "list the join user who pre-creates the accounts (or a group holding it) in the Group Policy setting " +
                    "'Domain controller: Allow computer account re-use during domain join'; see docs/windows.md. Windows said: $lastError")
            }
            Write-Log -Message "attempt ${attempt}: join failed: $lastError"
            Start-Sleep -Seconds 10
        }
    }
    Exit-WithCode -Code $ExitJoinFailed -Message "join of $DomainName as $ComputerName failed: $lastError"
}

function Test-AccountReuseBlocked {
    # KB5020276 (https://support.microsoft.com/help/5020276): a join that reuses an existing
    # account whose owner is not trusted fails with 0xAAC (2732) NERR_AccountReuseBlockedByPolicy,
    # "An account with the same name exists in Active Directory. Re-using the account was
    # blocked by security policy." Retrying cannot help.
    param([Parameter(Mandatory = $true)][AllowEmptyString()][string]$Message)
    return ($Message -match $AccountReuseBlockedPattern)
}

function Grant-LocalGroupMembership {
    param(
        [Parameter(Mandatory = $true)][string]$DomainName,
        [Parameter(Mandatory = $true)][string]$GroupName,
        [Parameter(Mandatory = $true)][string]$LocalGroupSid,
        [Parameter(Mandatory = $true)][string]$LocalGroupLabel
    )
    # Right after the reboot the secure channel may not be up yet: retry the name lookup.
    $account = New-Object -TypeName System.Security.Principal.NTAccount -ArgumentList "$DomainName\$GroupName"
    $sid = $null
    $lastError = ''
    for ($attempt = 1; $attempt -le 12; $attempt++) {
        try {
            $sid = $account.Translate([System.Security.Principal.SecurityIdentifier])
            break
        }
        catch {
            $lastError = $_.Exception.Message
            Write-Log -Message "attempt ${attempt}: group $DomainName\$GroupName not resolved: $lastError"
            Start-Sleep -Seconds 10
        }
    }
    if ($null -eq $sid) {
        Exit-WithCode -Code $ExitAccessRestriction -Message "cannot resolve group $DomainName\${GroupName}: $lastError"
    }
    try {
        Add-LocalGroupMember -SID $LocalGroupSid -Member $sid.Value -ErrorAction Stop
        Write-Log -Message "added $DomainName\$GroupName to $LocalGroupLabel"
    }
    catch {
        # MemberExists,Microsoft.PowerShell.Commands.AddLocalGroupMemberCommand: nothing to do.
        if ($_.FullyQualifiedErrorId -like 'MemberExists*') {
            Write-Log -Message "$DomainName\$GroupName already in $LocalGroupLabel"
            return
        }
        Exit-WithCode -Code $ExitAccessRestriction -Message "cannot add $DomainName\$GroupName to ${LocalGroupLabel}: $($_.Exception.Message)"
    }
}

function Invoke-Main {
    $parameters = @{
        ComputerName          = ConvertTo-TrimmedValue -Value $env:SSM_computerName
        DomainName            = ConvertTo-TrimmedValue -Value $env:SSM_domainName
        ComputerOU            = ConvertTo-TrimmedValue -Value $env:SSM_computerOU
        AdGroupName           = ConvertTo-TrimmedValue -Value $env:SSM_adGroupName
        AdSudoGroupName       = ConvertTo-TrimmedValue -Value $env:SSM_adSudoGroupName
        BootWaitSeconds       = ConvertTo-TrimmedValue -Value $env:SSM_bootWaitSeconds
        DnsIP1                = ConvertTo-TrimmedValue -Value $env:SSM_dnsIP1
        DnsIP2                = ConvertTo-TrimmedValue -Value $env:SSM_dnsIP2
        DomainController      = ConvertTo-TrimmedValue -Value $env:SSM_domainController
    }
    $problems = Test-Parameters -Parameters $parameters
    # Checked here, not copied into $parameters: nothing derived from it is ever printed.
    if ([string]::IsNullOrEmpty($env:SSM_oneTimePassword) -or $env:SSM_oneTimePassword.Length -gt 256) {
        $problems.Add('oneTimePassword must be 1-256 characters')
    }
    if ($problems.Count -gt 0) {
        Exit-WithCode -Code $ExitBadParameters -Message ('bad parameters: ' + ($problems -join '; '))
    }
    $computerName = $parameters.ComputerName.ToUpperInvariant()
    $domainName = $parameters.DomainName
    $bootWaitSeconds = $DefaultBootWaitSeconds
    if ($parameters.BootWaitSeconds -ne '') {
        $bootWaitSeconds = [int]$parameters.BootWaitSeconds
    }
    Wait-BootWork -TimeoutSeconds $bootWaitSeconds

    $state = Get-DomainState
    if ($state.Domain -ne '') {
        if ($state.Domain -ne $domainName) {
            Exit-WithCode -Code $ExitJoinFailed -Message "already a member of $($state.Domain), not of ${domainName}: left as it is"
        }
        if ($state.ActiveName -eq $computerName) {
            if ($parameters.AdGroupName -ne '') {
                Grant-LocalGroupMembership -DomainName $domainName -GroupName $parameters.AdGroupName -LocalGroupSid $RemoteDesktopUsersSid -LocalGroupLabel 'the Remote Desktop Users group'
            }
            if ($parameters.AdSudoGroupName -ne '') {
                Grant-LocalGroupMembership -DomainName $domainName -GroupName $parameters.AdSudoGroupName -LocalGroupSid $AdministratorsSid -LocalGroupLabel 'the Administrators group'
            }
            Write-Log -Message "member of $domainName as $computerName"
            exit 0
        }
        if ($state.PendingName -eq $computerName) {
            Write-Log -Message "joined $domainName as $computerName; reboot pending"
            exit $ExitRebootRequested
        }
        Exit-WithCode -Code $ExitJoinFailed -Message "already a member of $domainName as $($state.ActiveName), not as ${computerName}: left as it is"
    }

    $dnsServers = @(@($parameters.DnsIP1, $parameters.DnsIP2) | Where-Object { $_ -ne '' })
    if ($dnsServers.Count -gt 0) {
        Set-DnsServers -Servers $dnsServers
    }
    Test-DomainController -DomainName $domainName

    # The documented way to pass a pre-created account's password: a credential with an empty
    # user name (the PSCredential constructor itself refuses one, the PSObject form does not).
    $secureOneTimePassword = ConvertTo-SecureString -String $env:SSM_oneTimePassword -AsPlainText -Force
    $joinCredential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList (
        [pscustomobject]@{ UserName = $null; Password = $secureOneTimePassword })
    Join-Domain -DomainName $domainName -ComputerName $computerName -ComputerOU $parameters.ComputerOU -DomainController $parameters.DomainController -Credential $joinCredential
    Remove-Variable -Name 'secureOneTimePassword', 'joinCredential'

    # SSM Agent reboots the instance and runs this script again; that run finds the instance a
    # member of the domain under its new name and grants adGroupName.
    exit $ExitRebootRequested
}

try {
    Invoke-Main
}
catch {
    Exit-WithCode -Code 1 -Message "unexpected error: $($_.Exception.Message) (line $($_.InvocationInfo.ScriptLineNumber))"
}
