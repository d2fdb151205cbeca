import type { DockerfileEntry } from './plan.ts';

/** Where Dockerfiles come from: a local directory, a GitHub repository. */
export interface DockerfileSource {
  /** Every file named `Dockerfile` below the images root, with its path relative to that root. */
  list(): Promise<DockerfileEntry[]>;
}
