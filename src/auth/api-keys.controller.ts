import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { ApiKeysService } from './api-keys.service';
import { CreateApiKeyDto } from './dto/create-api-key.dto';
import { Responds, RespondsEmpty } from '../openapi/openapi.decorators';
import { ApiKeySchema, NewApiKeySchema } from './auth.responses';

@Controller('api/v1/api-keys')
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  @Post()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Create an API key', description: 'Its role cannot be above your own.' })
  @Responds(201, NewApiKeySchema)
  create(@CurrentActor() actor: Actor, @Body() body: CreateApiKeyDto) {
    return this.apiKeys.create(actor, body.name, body.role);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List API keys' })
  @Responds(200, z.array(ApiKeySchema))
  list(@CurrentActor() actor: Actor) {
    return this.apiKeys.list(actor);
  }

  @Delete(':id')
  @RequireRole('viewer')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key' })
  @RespondsEmpty()
  revoke(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.apiKeys.revoke(actor, id);
  }
}
