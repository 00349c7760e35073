// Evaluates a batch of IAM simulations with @cloud-copilot/iam-simulate (test-time only).
//
//   node tools/iam-sim/simulate.mjs < batch.json > results.json
//
// stdin: a JSON array of {id, simulation} where `simulation` is runSimulation's input
// (request, identityPolicies, resourcePolicy, serviceControlPolicies, resourceControlPolicies).
// stdout: a JSON array, in the same order, of
//   {id, result: "Allowed"|"ImplicitlyDenied"|"ExplicitlyDenied"|"Error", errors, ignoredContextKeys,
//    denials, grants}
// One process per batch: node's start-up costs more than the evaluations.
//
// iam-simulate 0.1.173 validates context keys before evaluating, and its validation only knows
// variable keys with a slash (aws:ResourceTag/x): it drops every kms:EncryptionContext:<key>,
// although the engine evaluates them. When the only keys it dropped are those, the same engine
// is run again without the validation (its core `authorize`, as runUnsafeSimulation does) and its result is taken, marked
// `unvalidated` with the keys.
import { loadPolicy } from '@cloud-copilot/iam-policy'
import { getDenialReasons, getGrantReasons, runSimulation } from '@cloud-copilot/iam-simulate'

// The engine's own modules, for the evaluation without key validation (see below). The package
// exports only its entry point, so they are loaded by path.
const dist = new URL('./node_modules/@cloud-copilot/iam-simulate/dist/esm/', import.meta.url)
const load = (path) => import(new URL(path, dist))
const { authorize } = await load('core_engine/CoreSimulatorEngine.js')
const { AwsRequestImpl } = await load('request/request.js')
const { RequestContextImpl } = await load('requestContext.js')
const { DiscoveryContextKeyConstraints } = await load(
  'context_keys/discoveryContextKeyConstraints.js',
)

// runUnsafeSimulation of 0.1.173, whose resource policy lacks the name its analysis reads.
function evaluateUnvalidated(simulation) {
  const named = (p) => loadPolicy(p.policy, { name: p.name })
  const request = new AwsRequestImpl(
    simulation.request.principal,
    simulation.request.resource,
    simulation.request.action,
    new RequestContextImpl(simulation.request.contextVariables),
  )
  return authorize({
    request,
    sessionPolicy: undefined,
    identityPolicies: simulation.identityPolicies.map(named),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: simulation.resourcePolicy
      ? loadPolicy(simulation.resourcePolicy, { name: 'resource' })
      : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: {
      simulationMode: 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]),
    },
    serviceSettings: { s3: {} },
  })
}

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const batch = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const results = []
for (const { id, simulation } of batch) {
  const response = await runSimulation(simulation, { simulationMode: 'Strict' })
  if (response.resultType === 'error') {
    results.push({ id, result: 'Error', errors: response.errors })
    continue
  }
  const single = response.resultType === 'single' ? [response.result] : response.results
  const ignored = [...new Set(single.flatMap((r) => r.ignoredContextKeys ?? []))]
  if (ignored.length > 0 && ignored.every((k) => k.toLowerCase().startsWith('kms:encryptioncontext:'))) {
    const analysis = evaluateUnvalidated(simulation)
    results.push({
      id,
      result: analysis.result,
      unvalidated: ignored,
      ignoredContextKeys: [],
      denials: getDenialReasons(analysis),
      grants: getGrantReasons(analysis),
    })
    continue
  }
  results.push({
    id,
    result: response.overallResult,
    ignoredContextKeys: [...new Set(single.flatMap((r) => r.ignoredContextKeys ?? []))],
    denials: single.flatMap((r) => (r.analysis ? getDenialReasons(r.analysis) : [])),
    grants: single.flatMap((r) => (r.analysis ? getGrantReasons(r.analysis) : [])),
  })
}
process.stdout.write(JSON.stringify(results))
