// The text `--help` prints after each command's options: examples, exit codes and the environment read.

/** A block of `--help`: its title, then its lines indented. */
function helpSection(title: string, lines: readonly string[]): string {
  return [`${title}:`, ...lines.map((line) => `  ${line}`)].join('\n');
}

const ECR_EXAMPLE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror';

/** What an ECR target reads from the environment: the AWS SDK's region and credential chain. */
const AWS_ENVIRONMENT = [
  "AWS_REGION, AWS_PROFILE         an ECR target's region, where its host does not tell it, and login; the AWS SDK's",
  '                                other variables too (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, …)',
];

/** What registry requests read from the environment, mirror's and crane's alike (shared/registry/network.ts). */
const NETWORK_ENVIRONMENT = [
  'HTTPS_PROXY, HTTP_PROXY, NO_PROXY (or in lower case)',
  '                                proxies of the registry requests, crane\'s too, read as Go reads them',
  'SSL_CERT_FILE, SSL_CERT_DIR     CA certificates trusted besides the system\'s (a private registry, an inspecting proxy)',
  'NODE_EXTRA_CA_CERTS             more CA certificates for mirror\'s own look-ups (crane reads the two above)',
];

const COLUMNS_ENVIRONMENT = 'COLUMNS                         width of the table and of the progress line (default: the terminal\'s)';

const ONLY_HELP = [
  '--only: an image without tag or digest selects every tag of that repository (postgres: docker.io/library/postgres,',
  'any tag), one with a tag or digest that image alone. An entry that matches no image is a warning on stderr and the',
  'others go on; when no entry matches any image nothing runs and the exit code is 2, so that a typo never passes for',
  'a green run. Invalid Dockerfiles anywhere in the tree are still reported.',
].join('\n');

const MARKDOWN_HELP = [
  '--format markdown prints the report as markdown; --summary-file appends that markdown to a file (in GitHub Actions',
  '$GITHUB_STEP_SUMMARY, shown on the run\'s page) once the run is over, whatever its outcome.',
].join('\n');

/** What --artifacts and the signature policy do, for plan and sync. */
const SIGNATURES_HELP = [
  '--artifacts (default signatures): what is copied with each image, for its digest and each platform copied: cosign\'s',
  '.sig tag and the referrers that are signatures (Sigstore bundles, Notary); all adds .att and .sbom tags and every',
  'referrer; none copies the image alone. Each artifact copied is one manifest GET of the source, a pull of its budget',
  '(a referrers tag\'s index read, where the source serves no referrers API, one more); an unchanged one costs a HEAD,',
  'no pull. The artifacts priced by plan --base are those of the image\'s own digest: signatures of each platform image',
  'of an index (cosign sign --recursive) are copied with the platforms but not priced.',
  '',
  '--policy (default: signature-policy.yaml at the root of --images, when it exists): rules mapping image patterns',
  '(registry/repository globs) to a cosign signature by a public key or keyless (certificate issuer and subject). An',
  'image a rule covers is verified before anything of it is copied; one that does not verify fails as unverified and',
  'nothing of it is copied, while every other image goes on. Images no rule covers are mirrored as before. A policy',
  'that cannot be read is a usage error (exit 2), before any registry is asked. On a first copy and with --dry-run the',
  'signatures are read from the source (the .sig manifest, each Sigstore bundle referrer: counted pulls, held to the',
  'pull budget); when the target already holds the same digest and signatures, from the target\'s copy (no pull).',
].join('\n');

export const PROGRAM_HELP = [
  '',
  helpSection('Examples', [
    `mirror plan --images images/ --target ${ECR_EXAMPLE}`,
    `mirror sync --images images/ --target ${ECR_EXAMPLE} --summary-file "$GITHUB_STEP_SUMMARY"`,
    'mirror plan --images images/ --base origin/main --format markdown   # a pull request\'s comment',
    'mirror gate --images images/ --trivy reports/ --base origin/main    # every finding of a scan signed off?',
    'mirror sync --help                                                   # options, exit codes and environment',
  ]),
  '',
  'Exit codes: 0 all good, 1 an image failed or a file is invalid (gate: a finding not signed off), 2 usage or setup',
  'error, 3 images deferred for a source\'s pull budget (run again later), 130 and 143 stopped by SIGINT and SIGTERM.',
  'Each command\'s --help tells its own.',
].join('\n');

export const PLAN_HELP = [
  '',
  helpSection('Examples', [
    `mirror plan --images images/ --target ${ECR_EXAMPLE}`,
    'mirror plan --images images/ --only postgres --only quay.io/prometheus/node-exporter:v1.8.2',
    'mirror plan --images images/ --base origin/main --format markdown > comment.md',
    'mirror plan --images images/ --summary-file "$GITHUB_STEP_SUMMARY"',
  ]),
  '',
  ONLY_HELP,
  '',
  MARKDOWN_HELP,
  '',
  'With --base, the cost look-ups also ask, with one free HEAD, whether the tag of each added or changed digest pin',
  '(postgres:14@sha256:…) still names the pinned image, and warn when upstream has moved on; --no-cost and a plain',
  'plan ask no registry, so they cannot tell. Problems already on the base fail nothing: only what the change',
  'introduces does, and every problem of a file the change edits is the change\'s.',
  '',
  'The plan names the signature policy rule that applies to each image, and counts the images it covers; with --base,',
  'the pulls of each image\'s signatures (--artifacts) are counted with its own, and for an image the policy covers the',
  'GETs of its verification on a first copy (the .sig manifest, each Sigstore bundle referrer, the referrers tag\'s',
  'index where the source serves no referrers API): a HEAD per cosign tag and a referrers list, neither a pull, tell',
  'which there are.',
  '',
  SIGNATURES_HELP,
  '',
  helpSection('Exit codes', [
    '0  every Dockerfile is valid (with --base: the change breaks no file and names no image its source lacks)',
    '1  a Dockerfile is invalid (with --base: the change makes one invalid, or names an image its source does not have)',
    '2  usage error: a bad option or value, --images not a directory, no --only entry matching any image, a signature',
    '   policy that cannot be read, a --policy file that does not exist',
  ]),
  '',
  helpSection('Environment', [
    'COLUMNS                         width of the table (default: the terminal\'s)',
    'and with --base, for the cost look-ups (without --base no registry is contacted):',
    ...NETWORK_ENVIRONMENT,
    'DOCKER_CONFIG                   Docker\'s config.json ($DOCKER_CONFIG or ~/.docker) logins are used beside --credentials',
  ]),
].join('\n');

export const SYNC_HELP = [
  '',
  helpSection('Examples', [
    `mirror sync --images images/ --target ${ECR_EXAMPLE}`,
    'mirror sync --images images/ --target registry.example.com/mirror --credentials creds.json --platform linux/amd64',
    `mirror sync --images images/ --target ${ECR_EXAMPLE} --only postgres --dry-run --verbose`,
    `mirror sync --images images/ --target ${ECR_EXAMPLE} --quiet --summary-file "$GITHUB_STEP_SUMMARY"`,
    `mirror sync --images images/ --target ${ECR_EXAMPLE} --artifacts all --policy policies/strict.yaml`,
  ]),
  '',
  ONLY_HELP,
  '',
  SIGNATURES_HELP,
  '',
  MARKDOWN_HELP,
  '',
  'Logins: an ECR target\'s from the AWS SDK; the others from --credentials, and Docker\'s config.json ($DOCKER_CONFIG',
  'or ~/.docker) logins are used. crane gets them in a private Docker config removed when it ends, never on its',
  'command line: --verbose shows the commands as they are run, and shows no login.',
  '',
  helpSection('Exit codes', [
    '0    every image is in the target: copied, or there already',
    '1    an image failed or was interrupted, or a Dockerfile is invalid (every other image is still mirrored); an',
    '     image a signature policy rule refuses is one that failed: "failed (unverified)"',
    '2    usage or setup error, before any image is copied: a bad option or value, no --only entry matching any image,',
    '     --kms-key on a target that is not ECR, no crane, a registry refusing the login, a signature policy that',
    '     cannot be read, a --policy file that does not exist',
    '3    nothing failed, but images were deferred to keep a source\'s pull budget: run again later',
    '130  stopped by SIGINT (Ctrl-C); 143 by SIGTERM (a cancelled CI job, `timeout`): the report says what was done',
  ]),
  '',
  helpSection('Environment', [
    'CRANE                           the crane binary, where --crane is not given',
    ...AWS_ENVIRONMENT,
    'AWS_DEFAULT_REGION              the region where AWS_REGION is not set',
    ...NETWORK_ENVIRONMENT,
    'DOCKER_CONFIG                   Docker\'s config.json ($DOCKER_CONFIG or ~/.docker) logins are used',
    COLUMNS_ENVIRONMENT,
  ]),
].join('\n');

/** `mirror gate --help`'s text after the options. */
export const GATE_HELP = [
  '',
  helpSection('Examples', [
    'mirror gate --images images/ --trivy reports/ --base origin/main --format markdown   # CI: a pull request\'s comment',
    'mirror gate --images images/ --trivy postgres.json --severity CRITICAL               # locally, after:',
    'trivy image --format json --output postgres.json docker.io/library/postgres:14@sha256:…',
  ]),
  '',
  'Each report is matched to the image of the tree it scanned: by digest when the Dockerfile pins one (a report of',
  'another digest does not match), else by repository and tag of its ArtifactName or RepoTags. A report matching no',
  'image is a notice. Findings of the --severity levels must each be signed off in the image\'s sign-off file, Trivy\'s',
  'own ignore file beside its Dockerfile (images/docker.io/library/postgres/.trivyignore.yaml):',
  '',
  '  vulnerabilities:',
  '    - id: CVE-2024-1234',
  '      statement: the flaw is in a tool the image never runs   # why it is acceptable (required; TODO does not count)',
  '      expired_at: 2025-06-30                                  # after this date it no longer counts',
  '',
  'The gate prints that snippet, with the findings filled in, for every image with findings nobody signed off. Who',
  'signed off is the file\'s Git history and the pull request\'s approval. Without --base, images of the tree that no',
  'report scanned are counted, not failed; with --base, an image the change adds or changes with no report fails.',
  'A --trivy directory holding no *.json stands for no report (every scan failed, none was uploaded): with --base each',
  'image the change adds or changes then fails as not scanned; without --base it is an error (exit 2), as nothing would',
  'be judged. Invalid Dockerfiles are mirror plan\'s to fail: counted here.',
  '',
  MARKDOWN_HELP,
  '',
  helpSection('Exit codes', [
    '0  every finding of the gated severities of every scanned image is signed off (with --base: and every image',
    '   added or changed was scanned)',
    '1  a finding is not signed off or its sign-off expired, a sign-off file cannot be read, or (with --base) an image',
    '   added or changed has no report',
    '2  usage error: a bad option or value, --images not a directory, a report that cannot be read or is no Trivy',
    '   JSON report of an image (named), no report at all without --base',
  ]),
  '',
  helpSection('Environment', ['none of mirror\'s own: no registry is contacted; with --base as a git ref, git reads its usual variables']),
].join('\n');

/** The help of `mirror dependabot` and `mirror renovate`, whose options bots.ts defines. */
export function botHelp(name: string): string {
  return [
    '',
    helpSection('Examples', [`mirror ${name} --images images/ --dry-run`, `mirror ${name} --images images/ --check   # in CI: fails while the file lags behind the tree`]),
    '',
    helpSection('Exit codes', [
      '0  the file was written or is up to date (--dry-run: what would change is printed)',
      '1  --check: the file is out of date; or the bot would refuse the file as it would be (nothing written)',
      '2  usage error: a bad option, --images not a directory or outside the repository, a file that cannot be read',
    ]),
    '',
    helpSection('Environment', ['none of mirror\'s own; git, which finds the repository root, reads its usual variables']),
  ].join('\n');
}

/** `mirror orphans --help`'s text after the options. */
export const ORPHANS_HELP = [
  '',
  'Give the same --images, --name-template and --allow-registry as the sync: the repositories it would mirror into',
  'are the ones kept. A repository whose source directory (<registry>/<repository>/) holds an invalid Dockerfile is',
  'not called orphaned while the file is broken. A managed repository is this configuration\'s only when its name is',
  'the one --target and --name-template give the source its `source` tag names; the others under the prefix (another',
  'deployment\'s) are counted and left out, as are those of a registry --allow-registry leaves out. Two deployments',
  'with the same prefix and name template cannot be told apart: give each its own prefix.',
  '',
  'Exit codes: 0 no orphans, 1 orphans found, 2 usage or setup error (a target that is not ECR, ECR refusing).',
  '',
  'Example:',
  '  mirror orphans --images images/ --target 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror',
  '  aws ecr delete-repository --repository-name mirror/docker.io/library/old --force   # once nothing pulls it',
  '  mirror orphans --images images/ --target 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror --summary-file "$GITHUB_STEP_SUMMARY"',
  '',
  helpSection('Environment', AWS_ENVIRONMENT),
].join('\n');
