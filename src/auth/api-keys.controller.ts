import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { ApiKeysService } from './api-keys.service';
import { CreateApiKeyDto } from './dto/create-api-key.dto';

@Controller('api/v1/api-keys')
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  @Post()
  @RequireRole('viewer')
  create(@CurrentActor() actor: Actor, @Body() body: CreateApiKeyDto) {
    return this.apiKeys.create(actor, body.name, body.role);
  }

  @Get()
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor) {
    return this.apiKeys.list(actor);
  }

  @Delete(':id')
  @RequireRole('viewer')
  @HttpCode(204)
  revoke(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.apiKeys.revoke(actor, id);
  }
}
