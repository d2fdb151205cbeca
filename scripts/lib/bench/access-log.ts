import { readFile, stat } from 'node:fs/promises';

/** Requests a registry served during one run, by kind, as its access log tells. */
export interface RequestCounts {
  /** Manifest GETs: what Docker Hub counts as pulls. */
  readonly manifestGets: number;
  /** Manifest HEADs: free on Docker Hub. */
  readonly manifestHeads: number;
  readonly blobGets: number;
  readonly blobHeads: number;
  /** `/v2/` version checks. */
  readonly pings: number;
  readonly other: number;
}

/** Where the log ends now, to read only what comes after. */
export async function logMark(file: string): Promise<number> {
  return (await stat(file)).size;
}

/** Counts the requests logged since `mark`, once the log has stopped growing (the registry logs just after it answers). */
export async function countRequestsSince(file: string, mark: number): Promise<RequestCounts> {
  for (let size = -1; ; ) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const now = (await stat(file)).size;
    if (now === size) break;
    size = now;
  }
  return countRequests((await readFile(file)).subarray(mark).toString('utf8'));
}

/** Counts requests in Apache combined format access-log lines. */
export function countRequests(text: string): RequestCounts {
  const counts = { manifestGets: 0, manifestHeads: 0, blobGets: 0, blobHeads: 0, pings: 0, other: 0 };
  for (const match of text.matchAll(/"([A-Z]+) (\S+) HTTP\/[\d.]+" \d{3} /g)) {
    const method = match[1] as string;
    const path = (match[2] as string).replace(/\?.*$/, '');
    if (path === '/v2/' || path === '/v2') counts.pings += 1;
    else if (/^\/v2\/.+\/manifests\/[^/]+$/.test(path) && method === 'GET') counts.manifestGets += 1;
    else if (/^\/v2\/.+\/manifests\/[^/]+$/.test(path) && method === 'HEAD') counts.manifestHeads += 1;
    else if (/^\/v2\/.+\/blobs\/[^/]+$/.test(path) && method === 'GET') counts.blobGets += 1;
    else if (/^\/v2\/.+\/blobs\/[^/]+$/.test(path) && method === 'HEAD') counts.blobHeads += 1;
    else counts.other += 1;
  }
  return counts;
}
