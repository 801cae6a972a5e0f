libtether_internal_la_SOURCES += \
	policies/registry.c \
	policies/policies-int.h \
	policies/fixed.c \
	policies/exponential.c \
	policies/adaptive.c \
	policies/breaker.c
