import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { User } from './user.entity';

@Injectable()
export class UsersRepository {
  constructor(private readonly dataSource: DataSource) {}

  findByEmail(email: string, em: EntityManager = this.dataSource.manager): Promise<User | null> {
    return em.findOne(User, { where: { email: email.toLowerCase() } });
  }

  findById(id: string): Promise<User | null> {
    return this.dataSource.manager.findOne(User, { where: { id } });
  }

  create(email: string, passwordHash: string, em: EntityManager = this.dataSource.manager): Promise<User> {
    return em.save(User, em.create(User, { email: email.toLowerCase(), passwordHash }));
  }
}
