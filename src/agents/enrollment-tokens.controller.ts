import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateEnrollmentTokenDto } from './dto/create-enrollment-token.dto';
import { EnrollmentTokensService } from './enrollment-tokens.service';

@Controller('api/v1/enrollment-tokens')
export class EnrollmentTokensController {
  constructor(private readonly tokens: EnrollmentTokensService) {}

  @Post()
  @RequireRole('admin')
  create(@CurrentActor() actor: Actor, @Body() body: CreateEnrollmentTokenDto) {
    return this.tokens.create(actor, body);
  }

  @Get()
  @RequireRole('admin')
  list(@CurrentActor() actor: Actor) {
    return this.tokens.list(actor);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  revoke(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.tokens.revoke(actor, id);
  }
}
