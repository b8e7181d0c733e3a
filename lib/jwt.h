/*
 * lib/jwt.h: transitional.  Our access-token header is lib/jwt_util.h
 * (this name is libjwt's <jwt.h>); realtime/chat.c still includes
 * "jwt.h", found through -iquote lib.  Delete this file once it
 * includes "lib/jwt_util.h".
 */
#include "lib/jwt_util.h"
