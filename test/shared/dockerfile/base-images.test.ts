import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../../shared/errors.ts';
import { baseImagesOf } from '../../../shared/dockerfile/base-images.ts';
import { formatReference } from '../../../shared/image-ref/reference.ts';

const D = `sha256:${'c'.repeat(64)}`;
const images = (text: string) => baseImagesOf(text).map((image) => formatReference(image.reference));

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

  it('lists every bad FROM of a file at once', () => {
    expect(() => baseImagesOf('FROM Bad:1\nFROM ok:1\nFROM worse:-1')).toThrow(/line 1: .*; line 3: /);
  });
});
