import asyncio, time, aiohttp, orjson, sys
N=int(sys.argv[1]); B=2000
def batch(k):
    now=time.time_ns()
    return orjson.dumps({"labels":{"app":f"a{k%40}"},"lines":[{"@timestamp":f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now//10**9))}.{(now%10**9+i)%10**9:09d}Z","message":f"GET /api/items/{k*B+i} 200 12ms user=u{i%50} agent=curl/8.0","fields":{"bytes":i}} for i in range(B)]})
async def main():
    bodies=[batch(k) for k in range(N//B)]
    async with aiohttp.ClientSession() as s:
        q=asyncio.Queue(); [q.put_nowait(b) for b in bodies]
        async def worker():
            while not q.empty():
                b=q.get_nowait()
                async with s.post("http://127.0.0.1:8099/api/v1/lines",data=b,headers={"Authorization":"Bearer t","Content-Type":"application/json"}) as r:
                    j=await r.json(); assert j["accepted"]==B, j
        t=time.perf_counter(); await asyncio.gather(*[worker() for _ in range(4)]); print(N/(time.perf_counter()-t),"lines/s")
asyncio.run(main())
