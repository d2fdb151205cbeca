/** The sign-off file's name, beside the Dockerfile of the image it is about: Trivy's own ignore file. */
export const SIGN_OFF_FILE = '.trivyignore.yaml';

/** The sign-off file of the Dockerfile at `dockerfilePath` (below the images root): the same directory. */
export function signOffPathFor(dockerfilePath: string): string {
  const dir = dockerfilePath.split('/').slice(0, -1).join('/');
  return dir === '' ? SIGN_OFF_FILE : `${dir}/${SIGN_OFF_FILE}`;
}
