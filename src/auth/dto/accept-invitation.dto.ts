import { IsString, Length, Matches } from 'class-validator';
import { PASSWORD_MAX, PASSWORD_MIN } from './signup.dto';

export class AcceptInvitationDto {
  @Matches(/^crl_inv_[0-9A-Za-z]{40}$/, { message: 'token must be the invitation token (starts with crl_inv_)' })
  token: string;

  // Needed only when the invited email has no account yet.
  @IsString({ message: 'password must be a string' })
  @Length(PASSWORD_MIN, PASSWORD_MAX, { message: `password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters` })
  password: string;
}
