import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, In } from 'typeorm';
import type { JobOutput as ReportedOutput } from '../protocol/messages';
import { jobOutputAad } from '../secrets/sealed-columns';
import { SecretsCipher } from '../secrets/secrets-cipher';
import { JobOutput } from './job-output.entity';

/** An output as its readers get it, a sensitive one opened: it only ever leaves inside the jobs that need it. */
export interface OpenOutput {
  jobId: string;
  name: string;
  value: string;
  sensitive: boolean;
}

/** The outputs of jobs: kept sealed when sensitive, read by the module that queued the jobs for what comes next. */
@Injectable()
export class JobOutputs {
  constructor(
    private readonly dataSource: DataSource,
    private readonly cipher: SecretsCipher,
  ) {}

  /** What ended jobs reported, in place of anything an earlier attempt of theirs reported. */
  async save(em: EntityManager, jobs: { id: string; organizationId: string; outputs: ReportedOutput[] }[]): Promise<void> {
    const reporting = jobs.filter((j) => j.outputs.length);
    for (const j of reporting) await em.delete(JobOutput, { organizationId: j.organizationId, jobId: j.id });
    const rows = reporting.flatMap((j) =>
      j.outputs.map((o) => {
        const id = randomUUID();
        return {
          id,
          organizationId: j.organizationId,
          jobId: j.id,
          name: o.name,
          sensitive: o.sensitive,
          value: o.sensitive ? null : o.value,
          sealedValue: o.sensitive ? this.cipher.seal(o.value, jobOutputAad(id)) : null,
        };
      }),
    );
    if (rows.length) await em.insert(JobOutput, rows);
  }

  async forJobs(organizationId: string, jobIds: string[], em: EntityManager = this.dataSource.manager): Promise<OpenOutput[]> {
    if (!jobIds.length) return [];
    const rows = await em.find(JobOutput, { where: { organizationId, jobId: In(jobIds) }, order: { name: 'ASC' } });
    return rows.map((r) => ({ jobId: r.jobId, name: r.name, sensitive: r.sensitive, value: r.sealedValue === null ? (r.value ?? '') : this.cipher.open(r.sealedValue, jobOutputAad(r.id)) }));
  }
}
