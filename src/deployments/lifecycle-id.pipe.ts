import { Injectable, type PipeTransform } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { DomainException } from '../common/domain.exception';
import { DEFAULT_LIFECYCLE } from './lifecycles.service';

/** A lifecycle's id, or `default` for the organisation's default lifecycle. */
@Injectable()
export class LifecycleIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (value === DEFAULT_LIFECYCLE || isUUID(value)) return value;
    throw new DomainException('BAD_REQUEST', `"${value}" is not a lifecycle id: send a lifecycle's id, or "default"`);
  }
}
