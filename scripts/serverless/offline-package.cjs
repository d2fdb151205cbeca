'use strict';
// Local Serverless plugin (osls 4.3.1), listed in serverless.yml's `plugins:`.
//
// 1. Offline packaging (IMAGE_MIRROR_OFFLINE_PACKAGE=1, set by `npm run package`):
//    - skips `compareWithLastLayer` of osls's built-in AwsCompileLayers plugin
//      (node_modules/serverless/lib/plugins/aws/package/compile/layers.js). On the
//      `package:compileLayers` hook, right after compiling each layer, it calls
//      CloudFormation DescribeStacks on the deployed stack to see whether the layer's hash
//      is unchanged, and if so reuses the S3 key of the layer zip already uploaded, so that
//      `deploy` does not upload it again. It is a deploy-time optimisation only: skipping it
//      leaves the freshly compiled layer resource and outputs as they are (a later deploy
//      uploads the layer zip and publishes a new layer version). Without the skip, `package`
//      needs AWS credentials and a reachable CloudFormation endpoint.
//    - fences the provider's AWS SDK configuration: any other AWS call made while packaging
//      offline fails at once with a clear error, instead of hanging on the EC2 metadata
//      endpoint (169.254.169.254) or STS looking for credentials.
//    Without the variable (a real `serverless deploy` or `package`), nothing is stubbed.
//
// 2. Always, before the zips are made: refuses to package the crane layer when
//    layers/crane/bin/crane is missing or not executable (the worker would fail on every
//    image). When not packaging offline, it must also be an ELF binary for the functions'
//    architecture; offline (tests use a stand-in script) that is only a warning.

const fs = require('node:fs');
const path = require('node:path');

const OFFLINE_ENV = 'IMAGE_MIRROR_OFFLINE_PACKAGE';
const CRANE_RELATIVE_PATH = path.join('layers', 'crane', 'bin', 'crane');
// ELF e_machine values (little-endian u16 at offset 18).
const ELF_MACHINE = { arm64: 0xb7, x86_64: 0x3e };

class OfflinePackagePlugin {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.log = log;
    this.offline = ['1', 'true'].includes(String(process.env[OFFLINE_ENV] ?? '').toLowerCase());
    this.hooks = {
      'before:package:compileLayers': () => this.stubLayerComparison(),
      'before:package:createDeploymentArtifacts': () => this.checkCraneBinary(),
    };
    if (this.offline) this.fenceAwsCalls();
  }

  fail(message) {
    throw new this.serverless.classes.Error(`offline-package: ${message}`);
  }

  stubLayerComparison() {
    if (!this.offline) return;
    const layers = this.serverless.pluginManager.plugins.find(
      (plugin) => plugin.constructor.name === 'AwsCompileLayers' && typeof plugin.compareWithLastLayer === 'function',
    );
    if (!layers) this.fail('osls has no AwsCompileLayers.compareWithLastLayer any more: update scripts/serverless/offline-package.cjs');
    layers.compareWithLastLayer = async (layerName) => {
      this.log?.info(`offline packaging: not comparing layer "${layerName}" with the deployed stack (no CloudFormation call)`);
    };
  }

  fenceAwsCalls() {
    const provider = this.serverless.getProvider('aws');
    const fail = (what) => this.fail(`${what} was called while packaging offline (${OFFLINE_ENV}=1): no AWS call is allowed`);
    provider.getAwsSdkV3Config = async () => fail('an AWS SDK client');
    provider.getAwsSdkV3CredentialsProvider = () => fail('the AWS credentials provider');
  }

  checkCraneBinary() {
    if (!this.serverless.service.getAllLayers().includes('crane')) return;
    const file = path.join(this.serverless.serviceDir, CRANE_RELATIVE_PATH);
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      this.fail(`${CRANE_RELATIVE_PATH} is missing or not executable: run scripts/build-crane-layer.sh first`);
    }
    const architecture = this.serverless.service.provider.architecture ?? 'x86_64';
    const problem = elfProblem(file, architecture);
    if (!problem) return;
    if (!this.offline) this.fail(`${CRANE_RELATIVE_PATH} ${problem}: rebuild it with scripts/build-crane-layer.sh`);
    this.log?.warning(`${CRANE_RELATIVE_PATH} ${problem} (accepted for offline packaging only)`);
  }
}

/** Why `file` is not an ELF executable for `architecture`, or undefined when it is. */
function elfProblem(file, architecture) {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  let read;
  try {
    read = fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (read < header.length || header.readUInt32BE(0) !== 0x7f454c46) return 'is not an ELF binary';
  const expected = ELF_MACHINE[architecture];
  if (expected !== undefined && header.readUInt16LE(18) !== expected) return `is not built for ${architecture}`;
  return undefined;
}

module.exports = OfflinePackagePlugin;
