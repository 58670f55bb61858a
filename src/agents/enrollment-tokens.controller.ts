import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateEnrollmentTokenDto } from './dto/create-enrollment-token.dto';
import { EnrollmentTokensService } from './enrollment-tokens.service';
import { Responds, RespondsEmpty } from '../openapi/openapi.decorators';
import { EnrollmentTokenSchema, NewEnrollmentTokenSchema } from './agents.responses';

@Controller('api/v1/enrollment-tokens')
export class EnrollmentTokensController {
  constructor(private readonly tokens: EnrollmentTokensService) {}

  @Post()
  @RequireRole('admin')
  @ApiOperation({ summary: 'Create an enrollment token' })
  @Responds(201, NewEnrollmentTokenSchema)
  create(@CurrentActor() actor: Actor, @Body() body: CreateEnrollmentTokenDto) {
    return this.tokens.create(actor, body);
  }

  @Get()
  @RequireRole('admin')
  @ApiOperation({ summary: 'List enrollment tokens' })
  @Responds(200, z.array(EnrollmentTokenSchema))
  list(@CurrentActor() actor: Actor) {
    return this.tokens.list(actor);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Revoke an enrollment token' })
  @RespondsEmpty()
  revoke(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.tokens.revoke(actor, id);
  }
}
