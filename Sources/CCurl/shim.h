#ifndef PROMO_SYNC_CCURL_SHIM_H
#define PROMO_SYNC_CCURL_SHIM_H

// libcurl's curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call.
// These typed wrappers pass exactly one argument of the type each option expects.

#include <curl/curl.h>

typedef size_t (*ps_curl_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);

static inline CURLcode ps_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ps_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ps_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ps_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ps_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ps_curl_setopt_data_callback(CURL *handle, CURLoption option, ps_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ps_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode ps_curl_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

#endif
