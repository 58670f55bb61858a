import { Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { API_DOCS_PATH, apiDocs } from './api-docs.middleware';
import { OPENAPI_DOCUMENT_PATH, OpenApiController } from './openapi.controller';
import { OpenApiService } from './openapi.service';

/** The API contract: the OpenAPI document at OPENAPI_DOCUMENT_PATH, and its reference pages at API_DOCS_PATH. */
@Module({ controllers: [OpenApiController], providers: [OpenApiService], exports: [OpenApiService] })
export class OpenApiModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit() {
    // Before Nest's not-found handler, like the console's files; not a route of the API itself.
    this.adapterHost.httpAdapter.use(API_DOCS_PATH, apiDocs(OPENAPI_DOCUMENT_PATH));
  }
}
