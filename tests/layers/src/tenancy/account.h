// A fixture of check.layers_fixture: tenancy (layer 5) including net (layer 2) is fine.
#pragma once

#include "net/cidr.h"
