/**
 * `npm run demo`: the main job end to end on a local default, with no AWS account and no internet.
 * Starts the local stack, seeds synthetic images, writes an images tree, mirrors it into the ECR
 * stand-in (moto for the API, a password-protected registry for the endpoint), then runs again to
 * show that an unchanged image costs HEADs (its tag, its `.sig` tag and its referrers tag) and no pull.
 */
import { DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pushImage, pushIndex } from './lib/oci-seed.ts';

const root = resolve(import.meta.dirname, '..');
const stackDir = join(root, '.stack', 'demo');
const env = { ...process.env, STACK_DIR: stackDir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

function run(command: string, args: string[], extraEnv: Record<string, string> = {}): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...env, ...extraEnv } });
    child.on('error', reject);
    child.on('exit', (code) => resolvePromise(code ?? 1));
  });
}

function step(text: string): void {
  process.stdout.write(`\n\u001b[1m==> ${text}\u001b[0m\n`);
}

async function main(): Promise<number> {
  // The SDK is pinned to a version that supports Node 20; its notice about future versions is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  step('Starting the local stack (source registry, ECR stand-in registry, moto)');
  if ((await run('bash', [join(root, 'scripts', 'stack.sh'), 'start'])) !== 0) return 1;
  try {
    const stackEnv = Object.fromEntries([...(await readFile(join(stackDir, 'env'), 'utf8')).matchAll(/^export ([A-Z_]+)=["']?(.*?)["']?$/gm)].map((m) => [m[1], m[2]])) as Record<string, string>;
    const source = stackEnv.SOURCE_REGISTRY as string;
    const target = stackEnv.TARGET_REGISTRY as string;

    step(`Seeding synthetic images into the source registry ${source} (it stands in for Docker Hub)`);
    const alpine = await pushIndex({ registry: source }, 'library/alpine', '3.20', ['linux/amd64', 'linux/arm64'], { layers: 2, layerBytes: 64 * 1024 });
    const pinned = await pushImage({ registry: source }, 'library/postgres', '14', { format: 'docker', layers: 3, layerBytes: 64 * 1024 });
    const moved = await pushImage({ registry: source }, 'library/postgres', '14', { format: 'docker', layers: 3, layerBytes: 64 * 1024 });
    await pushImage({ registry: source }, 'prometheus/node-exporter', 'v1.8.2', { layers: 1 });
    console.log(`  library/alpine:3.20              two-platform OCI index ${alpine.index.digest}`);
    console.log(`  library/postgres:14              pinned to ${pinned.digest} (the tag has since moved to ${moved.digest.slice(0, 19)}…)`);
    console.log('  prometheus/node-exporter:v1.8.2  single-platform image');

    const images = join(stackDir, 'images');
    await rm(images, { recursive: true, force: true });
    const files: Record<string, string> = {
      [`${source}/library/alpine/Dockerfile`]: `FROM ${source}/library/alpine:3.20\n`,
      [`${source}/library/postgres/Dockerfile`]: `FROM ${source}/library/postgres:14@${pinned.digest}\n`,
      [`${source}/prometheus/node-exporter/Dockerfile`]: `# ARGs work as in a real build\nARG REGISTRY=${source}\nARG VERSION=v1.8.2\nFROM \${REGISTRY}/prometheus/node-exporter:\${VERSION}\n`,
    };
    step(`Writing the images tree (${images})`);
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(images, path)), { recursive: true });
      await writeFile(join(images, path), text);
      console.log(`  ${path}: ${text.trim().split('\n').at(-1)}`);
    }

    const aws = { AWS_ENDPOINT_URL: stackEnv.AWS_ENDPOINT_URL as string, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
    const sync = ['run', '--silent', 'mirror', '--', 'sync', '--images', images, '--target', `${target}/mirror`, '--ecr'];
    step(`mirror sync --images ${images} --target ${target}/mirror --ecr`);
    const first = await run('npm', sync, aws);

    step('ECR repositories (DescribeRepositories on moto)');
    const ecr = new ECRClient({ region: 'us-east-1', endpoint: aws.AWS_ENDPOINT_URL, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    for (const repo of (await ecr.send(new DescribeRepositoriesCommand({}))).repositories ?? []) {
      console.log(`  ${repo.repositoryName}  scanOnPush=${repo.imageScanningConfiguration?.scanOnPush} tags=${repo.imageTagMutability} encryption=${repo.encryptionConfiguration?.encryptionType}`);
    }

    step('The same sync again: nothing changed, so an image costs HEADs on the source (its tag, or a digest pin\'s tag, which tells that it moved on; and where its signatures would be: the `.sig` tag, the referrers tag), and no pull is spent');
    const logBefore = (await readFile(stackEnv.SOURCE_LOG as string, 'utf8')).length;
    const second = await run('npm', sync, aws);
    const requests = (await readFile(stackEnv.SOURCE_LOG as string, 'utf8')).slice(logBefore);
    const gets = [...requests.matchAll(/"GET \/v2\/[^ ]+\/manifests\//g)].length;
    const heads = [...requests.matchAll(/"HEAD \/v2\/[^ ]+\/manifests\//g)].length;
    console.log(`\n  source registry access log for the second run: ${gets} manifest GET (pulls), ${heads} manifest HEAD`);
    return first === 0 && second === 0 ? 0 : 1;
  } finally {
    step('Stopping the local stack');
    await run('bash', [join(root, 'scripts', 'stack.sh'), 'stop']);
  }
}

process.exitCode = await main();
