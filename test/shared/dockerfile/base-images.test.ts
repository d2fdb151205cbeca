import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../../shared/errors.ts';
import { baseImagesOf, MAX_FROMS, MAX_NESTING, MAX_VALUE_LENGTH, MAX_WORDS } from '../../../shared/dockerfile/base-images.ts';
import { formatReference } from '../../../shared/image-ref/reference.ts';

const D = `sha256:${'c'.repeat(64)}`;
const images = (text: string) => baseImagesOf(text).map((image) => formatReference(image.reference));
const nested = (depth: number, inner: string) => '${A:-'.repeat(depth) + inner + '}'.repeat(depth);
/** `ARG L0=<first>`, then each ARG twice the one before, then `FROM x:${L<lines>}`. */
const doubling = (first: string, lines: number) =>
  [`ARG L0=${first}`, ...Array.from({ length: lines }, (_, i) => `ARG L${i + 1}=\${L${i}}\${L${i}}`), `FROM x:\${L${lines}}`].join('\n');
const messageOf = (text: string): string => {
  try {
    baseImagesOf(text);
  } catch (error) {
    expect(error).toBeInstanceOf(DockerfileError);
    return (error as Error).message;
  }
  throw new Error('no error');
};

describe('baseImagesOf', () => {
  it.each([
    ['one line', 'FROM postgres:14', ['docker.io/library/postgres:14']],
    ['lowercase keyword', 'from postgres:14', ['docker.io/library/postgres:14']],
    ['no tag', 'FROM quay.io/prometheus/node-exporter', ['quay.io/prometheus/node-exporter:latest']],
    ['digest pin', `FROM postgres:14@${D}`, [`docker.io/library/postgres:14@${D}`]],
    ['digest only', `FROM postgres@${D}`, [`docker.io/library/postgres@${D}`]],
    ['ARG default', 'ARG VERSION=14\nFROM postgres:${VERSION}', ['docker.io/library/postgres:14']],
    ['bare $ARG', 'ARG VERSION=14\nFROM postgres:$VERSION', ['docker.io/library/postgres:14']],
    ['quoted ARG default', 'ARG VERSION="14.13"\nFROM postgres:${VERSION}', ['docker.io/library/postgres:14.13']],
    ['ARG built from ARG', 'ARG REG=quay.io\nARG IMAGE=$REG/prometheus/prometheus\nFROM ${IMAGE}:v2', ['quay.io/prometheus/prometheus:v2']],
    ['${X:-default} on an ARG without value', 'ARG TAG\nFROM alpine:${TAG:-3.20}', ['docker.io/library/alpine:3.20']],
    ['${X-default} on an undeclared ARG', 'FROM alpine:${TAG-3.19}', ['docker.io/library/alpine:3.19']],
    ['${X:-default} on an empty ARG', 'ARG TAG=\nFROM alpine:${TAG:-3.18}', ['docker.io/library/alpine:3.18']],
    ['${X-default} keeps an ARG set to empty', 'ARG SUFFIX=\nFROM alpine:3.20${SUFFIX-x}', ['docker.io/library/alpine:3.20']],
    ['${X:+word}', 'ARG SLIM=1\nFROM node:20${SLIM:+-slim}', ['docker.io/library/node:20-slim']],
    ['several ARGs on one line', 'ARG IMG=redis TAG=7\nFROM ${IMG}:${TAG}', ['docker.io/library/redis:7']],
    ['--platform', 'FROM --platform=linux/arm64 alpine:3.20', ['docker.io/library/alpine:3.20']],
    ['--platform with BuildKit ARG', 'FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM alpine:3.20\nCOPY --from=build /x /x', ['docker.io/library/golang:1.22', 'docker.io/library/alpine:3.20']],
    ['multi-stage with stage references', 'FROM golang:1.22 AS Build\nRUN go build\nFROM build AS test\nFROM BUILD\nFROM gcr.io/distroless/static:nonroot', ['docker.io/library/golang:1.22', 'gcr.io/distroless/static:nonroot']],
    ['scratch skipped', 'FROM golang:1.22 AS build\nFROM scratch\nCOPY --from=build /app /app', ['docker.io/library/golang:1.22']],
    ['comments and blank lines', '# mirrored for CI\n\n# FROM ignored:1\n  FROM redis:7\n', ['docker.io/library/redis:7']],
    ['line continuation', 'FROM \\\n  postgres:14 \\\n  AS db', ['docker.io/library/postgres:14']],
    ['parser directives', '# syntax=docker/dockerfile:1\n# escape=\\\nFROM postgres:14', ['docker.io/library/postgres:14']],
    ['CRLF line endings', 'ARG V=14\r\nFROM postgres:${V}\r\n', ['docker.io/library/postgres:14']],
    ['UTF-8 BOM', '\uFEFFFROM postgres:14\n', ['docker.io/library/postgres:14']],
    ['the same image twice', 'FROM alpine:3.20 AS a\nFROM alpine:3.20 AS b', ['docker.io/library/alpine:3.20', 'docker.io/library/alpine:3.20']],
  ])('%s', (_, text, expected) => {
    expect(images(text)).toEqual(expected);
  });

  it('reports line numbers and --platform', () => {
    expect(baseImagesOf('# c\nARG P=linux/arm64\nFROM --platform=$P alpine:3.20')).toEqual([
      { reference: { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' }, line: 3, platform: 'linux/arm64' },
    ]);
  });

  it.each([
    ['empty file', '', 'file is empty'],
    ['whitespace only', ' \n\t\n', 'file is empty'],
    ['binary', 'FROM\u0000\u0001', 'not a text file'],
    ['no FROM', 'RUN echo hi', 'no FROM instruction'],
    ['only scratch', 'FROM scratch\nCOPY x /x', 'names no image to mirror'],
    ['undeclared ARG', 'FROM postgres:${VERSION}', 'line 1: ARG VERSION is not declared before the first FROM'],
    ['ARG without value', 'ARG VERSION\nFROM postgres:$VERSION', 'line 2: ARG VERSION has no default value'],
    ['ARG declared after FROM', 'FROM alpine:3.20\nARG V=1\nFROM postgres:${V}', 'line 3: ARG V is not declared before the first FROM'],
    ['${X:?}', 'FROM postgres:${V:?missing}', 'ARG V is required here'],
    ['unclosed brace', 'ARG V=1\nFROM postgres:${V', '"${" without a closing "}"'],
    ['bad substitution', 'FROM postgres:${V/x/y}', 'is not a variable substitution'],
    ['uppercase repository', 'FROM Postgres:14', 'line 1: invalid image reference "Postgres:14"'],
    ['illegal tag', 'FROM postgres:14!', 'tag "14!" may only hold'],
    ['extra words', 'FROM postgres:14 extra', 'FROM takes "image" or "image AS name", got "postgres:14 extra"'],
    ['AS without name', 'FROM postgres:14 AS', 'FROM takes "image" or "image AS name"'],
    ['four words', 'FROM a AS b c', 'FROM takes "image" or "image AS name"'],
    ['unknown flag', 'FROM --squash postgres:14', 'FROM does not take the flag --squash'],
    ['bad stage name', 'FROM postgres:14 AS 1st', 'stage name "1st" is not valid'],
    ['option-looking reference', 'FROM --output=/tmp', 'FROM does not take the flag --output'],
    ['empty expansion', 'ARG V=\nFROM ${V}', 'it is empty'],
  ])('refuses %s', (_, text, message) => {
    expect(() => baseImagesOf(text)).toThrow(DockerfileError);
    expect(() => baseImagesOf(text)).toThrow(message);
  });

  describe('ARGs whose value cannot be computed', () => {
    it.each([
      ['an ARG declared after it', 'ARG IMAGE=alpine:$TAG\nARG TAG=3.20\nFROM $IMAGE', 'line 3: ARG IMAGE cannot be used: its default "alpine:$TAG" refers to ARG TAG, which is declared after it'],
      ['an undeclared ARG', 'ARG A=$B\nFROM x:$A', 'line 2: ARG A cannot be used: its default "$B" refers to ARG B, which is not declared before the first FROM'],
      ['an ARG without value', 'ARG B\nARG A=x${B}\nFROM x:$A', 'line 3: ARG A cannot be used: its default "x${B}" refers to ARG B, which has no default value'],
      ['itself', 'ARG A=$A\nFROM x:$A', 'line 2: ARG A cannot be used: its default "$A" refers to ARG A itself, which has no value yet'],
      ['a broken substitution', 'ARG A=${B\nFROM x:$A', 'line 2: ARG A cannot be used: its default "${B" cannot be expanded: "${" without a closing "}" in "${B"'],
      ['an unusable ARG', 'ARG B=$C\nARG A=$B\nFROM x:$A', 'line 3: ARG A cannot be used: it depends on ARG B, which cannot be used: its default "$C" refers to ARG C, which is not declared before the first FROM'],
    ])('say why when the default refers to %s', (_, text, message) => {
      expect(messageOf(text)).toBe(message);
    });

    it('are refused even where the FROM gives a default: Docker would use their value', () => {
      expect(messageOf('ARG A=x$B\nARG B=1\nFROM x:${A:-1}')).toBe('line 3: ARG A cannot be used: its default "x$B" refers to ARG B, which is declared after it');
    });

    it('matter only when a FROM uses them', () => {
      expect(images('ARG A=$B\nARG B=1\nFROM alpine:3.20')).toEqual(['docker.io/library/alpine:3.20']);
    });
  });

  describe('bounds on the work one file causes', () => {
    it(`expands \${…} nested ${MAX_NESTING} deep, and refuses one level more`, () => {
      expect(images(`FROM alpine:${nested(MAX_NESTING, '3.20')}`)).toEqual(['docker.io/library/alpine:3.20']);
      expect(messageOf(`FROM alpine:${nested(MAX_NESTING + 1, '3.20')}`)).toContain(`is nested more than ${MAX_NESTING} deep`);
    });

    it('refuses substitutions nested 4,000 deep without running out of stack', () => {
      expect(messageOf(`FROM x:${nested(4000, 'y')}`)).toMatch(/^line 1: "\$\{…\}" is nested more than 16 deep in ".{0,80}… \(\d+ characters\)"$/);
    });

    it('refuses an ARG that would grow past the bound, naming the ARG at fault', () => {
      expect(messageOf(doubling('a'.repeat(9), 9))).toBe(`line 11: ARG L9 cannot be used: its value would be longer than ${MAX_VALUE_LENGTH} characters`);
      // Exactly at the bound, L9 is computed: only the FROM around it is too long.
      expect(messageOf(doubling('a'.repeat(8), 9))).toBe(`line 11: the image would be longer than ${MAX_VALUE_LENGTH} characters once its ARGs are expanded`);
    });

    it('refuses a chain of ARGs doubling per line toward a gigabyte', () => {
      expect(messageOf(doubling('aaaa', 28))).toBe(`line 30: ARG L28 cannot be used: it depends on ARG L11, which cannot be used: its value would be longer than ${MAX_VALUE_LENGTH} characters`);
      expect(messageOf(doubling('a'.repeat(23_900), 9))).toBe(`line 11: ARG L9 cannot be used: it depends on ARG L0, which cannot be used: its value would be longer than ${MAX_VALUE_LENGTH} characters`);
    });

    it('refuses a FROM that would expand past the bound', () => {
      expect(messageOf(`ARG A=${'a'.repeat(4000)}\nFROM x:\${A}\${A}`)).toBe(`line 2: the image would be longer than ${MAX_VALUE_LENGTH} characters once its ARGs are expanded`);
    });

    it(`takes ${MAX_FROMS} FROM instructions, and refuses more`, () => {
      const froms = (n: number) => Array.from({ length: n }, (_, i) => `FROM alpine:3.${i}`).join('\n');
      expect(images(froms(MAX_FROMS))).toHaveLength(MAX_FROMS);
      expect(messageOf(froms(MAX_FROMS + 1))).toBe(`it has ${MAX_FROMS + 1} FROM instructions, more than the ${MAX_FROMS} allowed`);
    });

    it.each([
      ['words', `FROM alpine:3.20\nRUN ${'a '.repeat(MAX_WORDS)}`],
      ['JSON strings', `FROM alpine:3.20\nRUN [${'"",'.repeat(MAX_WORDS / 2)}""]`],
      ['quoted parts of one word', `FROM alpine:3.20\nRUN ${"'a'".repeat(MAX_WORDS)}`],
      ['variables in one word', `FROM alpine:3.20\nRUN ${'${a}'.repeat(MAX_WORDS)}`],
      ['bare variables in one word', `FROM alpine:3.20\nRUN ${'$a'.repeat(MAX_WORDS)}`],
    ])('refuses a file of too many %s before parsing it', (_, text) => {
      expect(messageOf(text)).toContain(`it holds more than the ${MAX_WORDS} words allowed`);
    });

    it.each([
      ['an unclosed ${ of a megabyte', `ARG V=1\nFROM x:\${V${'a'.repeat(1_000_000)}`],
      ['a malformed substitution of a megabyte', `FROM x:\${V/${'a'.repeat(1_000_000)}}`],
      ['a required ARG with a megabyte of text', `FROM x:\${V:?${'a'.repeat(1_000_000)}}`],
      ['an ARG name of a megabyte', `FROM x:$${'A'.repeat(1_000_000)}`],
      ['an ARG default of a megabyte', `ARG A=\${${'a'.repeat(1_000_000)}\nFROM x:$A`],
    ])('quotes no more than a short piece of %s', (_, text) => {
      const message = messageOf(text);
      expect(message.length).toBeLessThan(400);
      expect(message).toContain('characters)');
    });
  });

  it('lists every bad FROM of a file at once', () => {
    expect(() => baseImagesOf('FROM Bad:1\nFROM ok:1\nFROM worse:-1')).toThrow(/line 1: .*; line 3: /);
  });
});
