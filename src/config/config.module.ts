import { Global, Inject, Module, type DynamicModule } from '@nestjs/common';
import type { CorralConfig } from './config';

export const CORRAL_CONFIG = Symbol('CORRAL_CONFIG');

export const InjectConfig = () => Inject(CORRAL_CONFIG);

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: CorralConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: CORRAL_CONFIG, useValue: config }], exports: [CORRAL_CONFIG] };
  }
}
