// The direction of imports, checked in `npm test`: entry points (functions/) → shared/wiring/ → use cases (shared/sync/)
// → ports (shared/ports.ts) and the pure domain. Adapters implement ports; only the wiring builds them.
const DOMAIN = '^shared/(errors\\.ts|json\\.ts|safe-text\\.ts|ports\\.ts|oci|image-ref|dockerfile|plan|config|bots/(dependabot|renovate|tree)\\.ts)';
const USE_CASES = '^shared/(sync/|findings/|signatures/|bots/configure\\.ts)';
const ADAPTERS = '^shared/(source|registry|ecr|secrets|lambda|observability|bots/repo-files\\.ts)';
const IO = '^(node:)?(child_process|fs|fs/promises|http|https|net|tls)$|@aws-sdk|octokit|@aws-lambda-powertools|undici';

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'No module imports itself through others.', from: {}, to: { circular: true } },
    {
      name: 'no-folder-cycles',
      severity: 'error',
      comment: 'No folder of shared/ imports another in a loop.',
      scope: 'folder',
      from: { path: '^shared' },
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'The domain and the ports import no use case, adapter, wiring or I/O library.',
      from: { path: DOMAIN },
      to: { path: [USE_CASES, ADAPTERS, '^shared/wiring/', '^functions/', IO] },
    },
    {
      name: 'use-cases-use-ports',
      severity: 'error',
      comment: 'Use cases work through ports: no adapter, no wiring, no SDK.',
      from: { path: USE_CASES },
      to: { path: [ADAPTERS, '^shared/wiring/', '^functions/', IO] },
    },
    {
      name: 'adapters-below-wiring',
      severity: 'error',
      comment: 'Adapters never reach up into the wiring or the entry points.',
      from: { path: ADAPTERS },
      to: { path: ['^shared/wiring/', '^functions/'] },
    },
    {
      name: 'shared-below-functions',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^functions/' },
    },
    {
      name: 'entry-points-through-wiring',
      severity: 'error',
      comment: 'The Lambda handlers and the CLI get their adapters from shared/wiring/ only.',
      from: { path: '^functions/' },
      to: { path: [ADAPTERS, '^(node:)?child_process$|@aws-sdk|octokit'] },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(test|scripts)/' },
  },
};
