import { type INestApplication, Injectable } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { buildOpenApiDocument } from './openapi-document';

/**
 * The node's API document, built on the first request for it and kept: it depends on the code
 * alone, and building it at every start would delay every start.
 */
@Injectable()
export class OpenApiService {
  private app: INestApplication | undefined;
  private document: OpenAPIObject | undefined;

  constructor(@InjectConfig() private readonly config: CorralConfig) {}

  /** The application whose controllers the document describes (createApp gives it once built). */
  describe(app: INestApplication) {
    this.app = app;
  }

  get(): OpenAPIObject {
    if (!this.app) throw new Error('OpenApiService.describe(app) was not called: createApp does it');
    return (this.document ??= buildOpenApiDocument(this.app, this.config.publicUrl));
  }
}
