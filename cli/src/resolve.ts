import type { Agent, Project, ReleaseSummary } from '../../src/protocol/api-schema';
import type { Api } from './api';
import { UsageError } from './args';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A resource named as a user would: its id, or its name (any case); an unknown one lists what there is. */
function pick<T extends { id: string; name: string }>(all: T[], wanted: string, what: string, also: (t: T) => string[] = () => []): T {
  const byId = all.find((t) => t.id === wanted);
  if (byId) return byId;
  const lower = wanted.toLowerCase();
  const named = all.filter((t) => t.name.toLowerCase() === lower || also(t).some((a) => a.toLowerCase() === lower));
  if (named.length === 1) return named[0];
  if (named.length > 1) throw new UsageError(`${named.length} ${what}s are called "${wanted}": name one by id (${named.map((t) => t.id).join(', ')})`);
  const known = all.slice(0, 10).map((t) => t.name);
  throw new UsageError(`no ${what} "${wanted}"${known.length ? `; there are: ${known.join(', ')}${all.length > known.length ? ', …' : ''}` : ''}`);
}

export async function findProject(api: Api, wanted: string): Promise<Project> {
  return pick(await api.ok(api.client.GET('/api/v1/projects')), wanted, 'project', (p) => [p.slug]);
}

/** The release of that version, or the project's latest when no version is given. */
export async function findRelease(api: Api, project: Project, version: string | undefined): Promise<ReleaseSummary> {
  const releases = await api.ok(api.client.GET('/api/v1/projects/{id}/releases', { params: { path: { id: project.id }, query: version ? { version } : {} } }));
  if (releases.length) return releases[0]; // newest first; a version names one
  if (!version) throw new UsageError(`project "${project.name}" has no release yet: corral release create --project ${project.slug}`);
  const latest = (await api.ok(api.client.GET('/api/v1/projects/{id}/releases', { params: { path: { id: project.id } } }))).slice(0, 5).map((r) => r.version);
  throw new UsageError(`project "${project.name}" has no release ${version}${latest.length ? ` (latest: ${latest.join(', ')})` : ''}`);
}

export async function listAgents(api: Api, status?: Agent['status']): Promise<Agent[]> {
  return (await api.ok(api.client.GET('/api/v1/agents', { params: { query: { status } } }))).items;
}

/**
 * Agents by name or id. Among several with one name (an agent enrolled again keeps the old one,
 * revoked), the approved one is meant.
 */
export async function findAgents(api: Api, wanted: string[]): Promise<Agent[]> {
  const all = await listAgents(api);
  return wanted.map((w) => {
    if (UUID.test(w)) return pick(all, w, 'agent');
    const approved = all.filter((a) => a.status === 'approved');
    return approved.some((a) => a.name.toLowerCase() === w.toLowerCase()) ? pick(approved, w, 'approved agent') : pick(all, w, 'agent');
  });
}
