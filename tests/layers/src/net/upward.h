// A fixture of check.layers_fixture: net (layer 2) including tenancy (layer 5) must be named.
#pragma once

#include "net/asio.h"
#include "tenancy/account.h"
